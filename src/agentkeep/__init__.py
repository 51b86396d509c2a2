"""agentkeep: the system of record for AI agents."""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentkeep.keep import Keep
    from agentkeep.principal import Principal

__all__ = ["Keep", "Principal"]
__version__ = metadata.version("agentkeep")  # one source: pyproject.toml


def __getattr__(name: str) -> Any:
    # Imported on first use: importing a lower layer (agentkeep.database) must not load every
    # domain through this package's own import of Keep.
    if name == "Keep":
        from agentkeep.keep import Keep

        return Keep
    if name == "Principal":
        from agentkeep.principal import Principal

        return Principal
    raise AttributeError(f"module 'agentkeep' has no attribute {name!r}")

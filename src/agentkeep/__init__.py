"""agentkeep: the system of record for AI agents."""

from agentkeep.keep import Keep
from agentkeep.principal import Principal

__all__ = ["Keep", "Principal"]
__version__ = "0.1.0"

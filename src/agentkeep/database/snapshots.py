"""Several connections that read one consistent snapshot of the database.

A long read that one server process cannot do fast enough (audit verification) is split over
several connections. They must all see the same committed state, or the parts would not add up
(a chain read before a write and its head row after it). The coordinating connection begins a
REPEATABLE READ transaction and exports its snapshot (``pg_export_snapshot()``); each worker
begins REPEATABLE READ and adopts it with ``SET TRANSACTION SNAPSHOT``. The export lives as long
as the coordinator's transaction, which stays open until every worker is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

# The server writes snapshot ids as "%08X-%08X-%d" (PostgreSQL 15 to 18). SET TRANSACTION
# SNAPSHOT takes no bind parameters, so the id is written into the statement: only a text of
# exactly this form may reach it.
_SNAPSHOT_ID = re.compile(r"[0-9A-F]{8}-[0-9A-F]{8}-[0-9]{1,10}")


def adopt_statement(snapshot_id: str, settings: Sequence[str]) -> str:
    """BEGIN, the snapshot, then the caller's SET LOCALs (the snapshot must come before them)."""
    if not _SNAPSHOT_ID.fullmatch(snapshot_id):
        raise ValueError(f"unexpected snapshot id from the server: {snapshot_id!r}")
    return "; ".join(
        [
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            f"SET TRANSACTION SNAPSHOT '{snapshot_id}'",
            *settings,
        ]
    )


class SharedSnapshot:
    """The coordinator's read-only REPEATABLE READ transaction, and workers that share its snapshot."""

    def __init__(self, dsn: str, coordinator: asyncpg.Connection[Any], settings: Sequence[str]) -> None:
        self._dsn = dsn
        self.coordinator = coordinator
        self._settings = list(settings)
        self._workers: list[asyncpg.Connection[Any]] = []
        self._snapshot_id: str | None = None

    @property
    def dsn(self) -> str:
        return self._dsn

    @property
    def settings(self) -> list[str]:
        """The coordinator's ``SET LOCAL`` statements, which every worker runs too."""
        return list(self._settings)

    async def export(self) -> str:
        """The snapshot's id, for connections of other processes to adopt (``adopt_statement``)
        while the coordinator's transaction lasts."""
        if self._snapshot_id is None:
            self._snapshot_id = str(await self.coordinator.fetchval("SELECT pg_export_snapshot()"))
        return self._snapshot_id

    async def workers(self, count: int) -> list[asyncpg.Connection[Any]]:
        """``count`` more connections, each inside a read-only transaction on the coordinator's
        snapshot, acting like it (the same settings). Closed when the shared snapshot ends."""
        begin = adopt_statement(await self.export(), self._settings)

        async def join() -> asyncpg.Connection[Any]:
            conn: asyncpg.Connection[Any] = await asyncpg.connect(self._dsn)
            self._workers.append(conn)
            await conn.execute(begin)
            return conn

        return list(await asyncio.gather(*(join() for _ in range(count))))

    async def close(self) -> None:
        # Read-only transactions: closing the connection ends them, nothing to commit.
        workers, self._workers = self._workers, []
        for conn in workers:
            try:
                await conn.close(timeout=5)
            except Exception:
                conn.terminate()


@asynccontextmanager
async def shared_snapshot(dsn: str, settings: Sequence[str] = ()) -> AsyncIterator[SharedSnapshot]:
    """A coordinator connection to ``dsn`` inside a read-only REPEATABLE READ transaction that
    ran ``settings`` (``SET LOCAL …`` statements); workers join its snapshot on demand."""
    coordinator: asyncpg.Connection[Any] = await asyncpg.connect(dsn)
    shared = SharedSnapshot(dsn, coordinator, settings)
    try:
        async with coordinator.transaction(isolation="repeatable_read", readonly=True):
            for statement in settings:
                await coordinator.execute(statement)
            try:
                yield shared
            finally:
                await shared.close()
    finally:
        with contextlib.suppress(Exception):
            await coordinator.close(timeout=5)
        if not coordinator.is_closed():
            coordinator.terminate()

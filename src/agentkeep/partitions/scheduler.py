"""The server's partition maintenance: ``ensure`` at start, then every so often, never fatal."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from agentkeep.database.engine import Database
from agentkeep.partitions.maintenance import ensure_partitions_once

log = logging.getLogger(__name__)


class PartitionMaintenance:
    """Runs :func:`ensure_partitions_once` now and every ``interval_seconds`` until stopped."""

    def __init__(self, database: Database, *, months_ahead: int, interval_seconds: float) -> None:
        self.database = database
        self.months_ahead = months_ahead
        self.interval_seconds = interval_seconds
        self.runs = 0
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> list[str] | None:
        """One pass; an error is logged and kept in ``last_error``, never raised (the server goes on)."""
        self.runs += 1
        try:
            created = await ensure_partitions_once(self.database, self.months_ahead)
        except Exception as exc:  # maintenance must never take the server down
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("partition maintenance failed; retrying in %s s", self.interval_seconds)
            return None
        self.last_error = None
        if created:
            log.info("partition maintenance created %s", ", ".join(created))
        return created

    async def _loop(self) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(self.interval_seconds)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="partition-maintenance")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

"""The server's retention schedule: no pg_cron, one run per interval, one server at a time.

Every server of a deployment may run the loop; the run's advisory lock
(``RETENTION_LOCK_KEY``) lets one of them do the work and the others find it taken. A failed run
is logged and counted, and the loop carries on: retention never takes the server down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from agentkeep.retention.service import RetentionService, RunSummary

logger = logging.getLogger("agentkeep.retention")

Outcome = Callable[[str, RunSummary | None], None]
"""Told each run's outcome ('done', 'skipped' or 'failed') and summary (None when it failed)."""


async def run_once(service: RetentionService, report: Outcome) -> RunSummary | None:
    """One scheduled run with the active profile's rules; never raises (but for cancellation)."""
    try:
        summary = await service.run()
    except Exception:
        logger.exception("retention run failed")
        report("failed", None)
        return None
    outcome = "done" if summary.ran else "skipped"
    logger.info(
        "retention run %s: %s rows archived and deleted%s",
        outcome,
        summary.rows_archived,
        f" ({summary.skipped_reason})" if summary.skipped_reason else "",
    )
    report(outcome, summary)
    return summary


async def run_every(service: RetentionService, interval_seconds: float, report: Outcome) -> None:
    """Run retention every ``interval_seconds`` (the first run one interval after start) until cancelled."""
    while True:
        await asyncio.sleep(interval_seconds)
        await run_once(service, report)

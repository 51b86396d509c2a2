"""One run at a time (the advisory lock), the server's schedule, and its Prometheus metrics."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agentkeep.api.app import create_app
from agentkeep.keep import Keep
from agentkeep.retention.scheduler import run_every
from agentkeep.retention.service import RETENTION_LOCK_KEY, RetentionService, RunSummary
from agentkeep.settings import load_settings
from retention_support import Scratch, agent_session, ago, archived_rows, scratch_database, user_session


@pytest.fixture
async def scratch(database_factory: Any, tmp_path: Path) -> AsyncIterator[Scratch]:
    async for made in scratch_database(database_factory, tmp_path / "archive", "devassist"):
        yield made


async def _due_rows(scratch: Scratch, users: int = 3) -> set[uuid.UUID]:
    due = set()
    for _ in range(users):
        user_id = await scratch.new_user()
        old = user_session(ended=ago(years=3))
        done = agent_session(status="completed", completed=ago(years=2))
        await scratch.write(user_id, [old, done])
        due |= {old[1]["id"], done[1]["id"]}
    return due


async def test_a_run_finding_the_lock_taken_does_nothing(scratch: Scratch) -> None:
    await _due_rows(scratch)
    before = await scratch.counts()
    holder: asyncpg.Connection = await scratch.owner()
    try:
        assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", RETENTION_LOCK_KEY)
        summary = await scratch.service().run()
    finally:
        await holder.close()
    assert (summary.ran, summary.skipped_reason) == (False, "another retention run holds the lock")
    assert await scratch.counts() == before
    assert not scratch.archive_root.exists()


async def test_two_concurrent_runs_do_the_work_once(scratch: Scratch) -> None:
    due = await _due_rows(scratch, users=4)
    runs = await asyncio.gather(*(scratch.service().run() for _ in range(2)))
    assert sum(run.rows_deleted for run in runs) == len(due)
    assert sum(1 for run in runs if run.rows_archived) == 1
    archived = [
        uuid.UUID(row["id"])
        for run in runs
        if run.archive_folder
        for row in archived_rows(run.archive_folder)
    ]
    assert sorted(archived) == sorted(due)  # each row in exactly one archive


async def test_the_schedule_logs_a_failed_run_and_keeps_going(scratch: Scratch, tmp_path: Path) -> None:
    await _due_rows(scratch, users=1)
    before = await scratch.counts()
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the archive folder should be")
    outcomes: list[tuple[str, RunSummary | None]] = []
    two_runs = asyncio.Event()

    def seen(outcome: str, summary: RunSummary | None) -> None:
        outcomes.append((outcome, summary))
        if len(outcomes) >= 2:
            two_runs.set()

    schedule = asyncio.create_task(run_every(RetentionService(scratch.database, blocked), 0.05, seen))
    try:
        async with asyncio.timeout(20):
            await two_runs.wait()
    finally:
        schedule.cancel()
    assert [outcome for outcome, _ in outcomes[:2]] == ["failed", "failed"]
    assert await scratch.counts() == before  # nothing deleted without its archive


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_the_server_runs_retention_on_its_schedule_and_counts_it(
    scratch: Scratch, tmp_path: Path
) -> None:
    due = await _due_rows(scratch, users=2)
    settings = load_settings(
        data_dir=tmp_path, archive_dir=str(scratch.archive_root), retention_interval_seconds=0.1
    )
    app = create_app(keep=Keep(scratch.database, settings))
    done = ("agentkeep_retention_runs_total", (("outcome", "done"),))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
        asyncio.timeout(20),
    ):
        # Polling /metrics is the point: the schedule is seen only through what the server exports.
        while (samples := _samples((await http.get("/metrics")).text)).get(done, 0) < 1:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert not await scratch.ids("user_sessions") & due
    assert samples[("agentkeep_retention_rows_archived_total", (("table", "user_sessions"),))] == 2
    assert samples[("agentkeep_retention_rows_archived_total", (("table", "agent_sessions"),))] == 2
    assert list(scratch.archive_root.glob("*/manifest.json"))

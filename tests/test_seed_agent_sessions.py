"""Seed schema: agent_sessions (001/002 agent_sessions, 000 kai_sessions) and their status machine.

docs/seed-mapping.md names these tests, row by row. Every test runs against the real embedded
PostgreSQL; raw SQL runs as the application role (row-level security on) inside a transaction
that is rolled back, so the rows it writes never outlive it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest
from asyncpg.exceptions import (
    CheckViolationError,
    ForeignKeyViolationError,
)

from agentkeep.agent_sessions.models import AgentSessionUpdate, NewAgentSession, StatusChange
from agentkeep.errors import SessionExpired, StaleVersion
from agentkeep.ids import new_id
from agentkeep.principal import Principal
from seed_helpers import (
    act_as,
    add_agent_session,
    add_conversation,
    add_message,
    add_persona,
    add_persona_activation,
    add_user_session,
    count,
    refused,
)

# ---------------------------------------------------------------------------------------------
# agent_sessions (seed 001 agent_sessions, seed 002 agent_sessions, seed 000 kai_sessions)
# ---------------------------------------------------------------------------------------------


async def test_agent_sessions_defaults_match_seeds(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        session = await add_agent_session(conn, user.user_id)
        row = await conn.fetchrow(
            "SELECT *, now() AS now FROM agent_sessions WHERE user_id = $1 AND id = $2",
            user.user_id,
            session,
        )
    assert row["status"] == "initializing"
    assert row["trust_level"] == 0
    assert row["token_cost"] == Decimal("0")
    assert row["estimated_cost"] is None
    assert row["max_cost_limit"] is None
    assert json.loads(row["personas_active"]) == []
    for column in ("agent_config", "governance_state", "context", "metadata"):
        assert json.loads(row[column]) == {}
    assert row["error_details"] is None
    assert row["version"] == 1
    assert row["created_at"] == row["now"]
    assert row["started_at"] is None
    assert row["completed_at"] is None


@pytest.mark.parametrize(
    "status",
    [
        "initializing",
        "pending_approval",
        "approved",
        "running",
        "paused",
        "completed",
        "failed",
        "cancelled",
        "blocked",
    ],
)
async def test_agent_sessions_accept_seed_statuses(as_app, make_user, status: str) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        session = await add_agent_session(conn, user.user_id, status=status)
        stored = await conn.fetchval(
            "SELECT status FROM agent_sessions WHERE user_id = $1 AND id = $2",
            user.user_id,
            session,
        )
    assert stored == status


@pytest.mark.parametrize("status", ["active", "bogus", "RUNNING", ""])
async def test_agent_sessions_reject_unknown_status(as_app, make_user, status: str) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        error = await refused(
            conn,
            CheckViolationError,
            "INSERT INTO agent_sessions (user_id, id, agent_type, status) VALUES ($1, $2, 'qa', $3)",
            user.user_id,
            new_id(),
            status,
        )
    assert error.constraint_name == "ck_agent_sessions_status_valid"


@pytest.mark.parametrize(
    ("trust_level", "accepted"),
    [(-1, False), (0, True), (2, True), (4, True), (5, False), (7, False)],
)
async def test_agent_sessions_trust_level_is_l0_to_l4(
    as_app, make_user, trust_level: int, accepted: bool
) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        sql = "INSERT INTO agent_sessions (user_id, id, agent_type, trust_level) VALUES ($1, $2, 'qa', $3)"
        if accepted:
            await conn.execute(sql, user.user_id, new_id(), trust_level)
        else:
            error = await refused(conn, CheckViolationError, sql, user.user_id, new_id(), trust_level)
            assert error.constraint_name == "ck_agent_sessions_trust_level_valid"


@pytest.mark.parametrize("column", ["token_cost", "estimated_cost", "max_cost_limit"])
async def test_agent_sessions_cost_must_not_be_negative(as_app, make_user, column: str) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        error = await refused(
            conn,
            CheckViolationError,
            f"INSERT INTO agent_sessions (user_id, id, agent_type, {column}) VALUES ($1, $2, 'qa', -0.0001)",
            user.user_id,
            new_id(),
        )
    assert error.constraint_name == "ck_agent_sessions_cost_valid"


async def test_agent_sessions_cost_above_max_cost_limit_blocks_the_session(as_app, make_user) -> None:
    """Up to the limit is fine; passing it blocks the session (revision 0012's cost gate, a
    cost_validation event); a new row over its limit is refused by the check."""
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        session = await add_agent_session(
            conn, user.user_id, max_cost_limit=Decimal("1.5000"), estimated_cost=Decimal("0.7500")
        )
        update = "UPDATE agent_sessions SET token_cost = $3 WHERE user_id = $1 AND id = $2"
        assert await conn.execute(update, user.user_id, session, Decimal("1.5000")) == "UPDATE 1"
        assert await conn.execute(update, user.user_id, session, Decimal("1.5001")) == "UPDATE 1"
        stored = await conn.fetchrow(
            "SELECT token_cost, status FROM agent_sessions WHERE user_id = $1 AND id = $2",
            user.user_id,
            session,
        )
        event = await conn.fetchval(
            "SELECT event_type FROM governance_events"
            " WHERE user_id = $1 AND agent_session_id = $2 AND NOT approved",
            user.user_id,
            session,
        )
        error = await refused(
            conn,
            CheckViolationError,
            "INSERT INTO agent_sessions (user_id, id, agent_type, token_cost, max_cost_limit)"
            " VALUES ($1, $2, 'qa', 2, 1)",
            user.user_id,
            new_id(),
        )
    assert (stored["token_cost"], stored["status"], event) == (
        Decimal("1.5001"),
        "blocked",
        "cost_validation",
    )
    assert "gv_agent_sessions_cost_limit" in str(error)


async def test_agent_sessions_personas_active_must_be_an_array(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        await add_agent_session(conn, user.user_id, personas_active='["sarah-chen", "alex"]')
        error = await refused(
            conn,
            CheckViolationError,
            "INSERT INTO agent_sessions (user_id, id, agent_type, personas_active) "
            "VALUES ($1, $2, 'qa', '{\"sarah-chen\": true}')",
            user.user_id,
            new_id(),
        )
    assert error.constraint_name == "ck_agent_sessions_personas_active_array"


REFUSED_TRANSITIONS = [
    ("initializing", "running"),  # seed 001: never run without passing approval
    ("pending_approval", "running"),
    ("completed", "running"),
    ("failed", "running"),
    ("cancelled", "approved"),
    ("blocked", "approved"),
    ("approved", "completed"),
    ("initializing", "paused"),
    ("completed", "paused"),
    ("running", "initializing"),
]


@pytest.mark.parametrize(
    ("old", "new"), REFUSED_TRANSITIONS, ids=[f"{a}-{b}" for a, b in REFUSED_TRANSITIONS]
)
async def test_agent_session_status_transition_refused(as_app, make_user, old: str, new: str) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        session = await add_agent_session(conn, user.user_id, status=old)
        error = await refused(
            conn,
            CheckViolationError,
            "UPDATE agent_sessions SET status = $3 WHERE user_id = $1 AND id = $2",
            user.user_id,
            session,
            new,
        )
        assert error.constraint_name == "agent_sessions_status_transition"
        row = await conn.fetchrow(
            "SELECT status, started_at FROM agent_sessions WHERE user_id = $1 AND id = $2",
            user.user_id,
            session,
        )
    assert row["status"] == old
    assert row["started_at"] is None


async def test_agent_session_status_path_sets_started_and_completed_at(as_app, make_user) -> None:
    """001's lifecycle with 002's session_state (active = running, paused, completed)."""
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        session = await add_agent_session(conn, user.user_id)
        now = await conn.fetchval("SELECT now()")

        async def move(status: str) -> asyncpg.Record:
            return await conn.fetchrow(
                "UPDATE agent_sessions SET status = $3 WHERE user_id = $1 AND id = $2 "
                "RETURNING status, started_at, completed_at",
                user.user_id,
                session,
                status,
            )

        for status in ("pending_approval", "approved"):
            row = await move(status)
            assert (row["status"], row["started_at"], row["completed_at"]) == (status, None, None)
        row = await move("running")
        assert row["started_at"] == now
        assert row["completed_at"] is None
        row = await move("paused")
        assert row["started_at"] == now
        assert row["completed_at"] is None
        row = await move("running")
        assert row["completed_at"] is None
        row = await move("completed")
        assert row["status"] == "completed"
        assert row["completed_at"] == now


@pytest.mark.parametrize(
    ("path", "final"),
    [
        (("cancelled",), "cancelled"),
        (("failed",), "failed"),
        (("pending_approval", "blocked"), "blocked"),
    ],
)
async def test_agent_session_ending_status_sets_completed_at(
    as_app, make_user, path: tuple[str, ...], final: str
) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        session = await add_agent_session(conn, user.user_id)
        for status in path:
            await conn.execute(
                "UPDATE agent_sessions SET status = $3 WHERE user_id = $1 AND id = $2",
                user.user_id,
                session,
                status,
            )
        row = await conn.fetchrow(
            "SELECT status, started_at, completed_at, now() AS now FROM agent_sessions "
            "WHERE user_id = $1 AND id = $2",
            user.user_id,
            session,
        )
    assert row["status"] == final
    assert row["completed_at"] == row["now"]
    assert row["started_at"] is None


async def test_agent_session_survives_its_user_session_deletion(as_app, make_user) -> None:
    """001 agent_sessions.session_id -> user_sessions: ON DELETE SET NULL (user_session_id)."""
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        login = await add_user_session(conn, user.user_id)
        session = await add_agent_session(conn, user.user_id, user_session_id=login)
        await conn.execute("DELETE FROM user_sessions WHERE user_id = $1 AND id = $2", user.user_id, login)
        row = await conn.fetchrow(
            "SELECT user_id, user_session_id FROM agent_sessions WHERE user_id = $1 AND id = $2",
            user.user_id,
            session,
        )
    assert row is not None
    assert row["user_id"] == user.user_id
    assert row["user_session_id"] is None


async def test_agent_session_cannot_use_another_users_login_session(as_app, make_user) -> None:
    alice, bob = await make_user(), await make_user()
    async with as_app(Principal.user(alice.user_id)) as conn:
        alices_login = await add_user_session(conn, alice.user_id)
        await act_as(conn, bob.user_id)
        error = await refused(
            conn,
            ForeignKeyViolationError,
            "INSERT INTO agent_sessions (user_id, id, agent_type, user_session_id) VALUES ($1, $2, 'qa', $3)",
            bob.user_id,
            new_id(),
            alices_login,
        )
    assert error.constraint_name == "fk_agent_sessions_user_id_user_session_id_user_sessions"


async def test_agent_session_delete_keeps_conversation_and_messages(as_app, make_user) -> None:
    """002 conversation_history.session_id: the history outlives the session (SET NULL)."""
    user = await make_user()
    async with as_app(Principal.service(user.user_id)) as conn:
        session = await add_agent_session(conn, user.user_id)
        conversation = await add_conversation(conn, user.user_id, agent_session_id=session)
        message = await add_message(conn, user.user_id, conversation, agent_session_id=session)
        await add_persona_activation(conn, user.user_id, session, await add_persona(conn))
        await conn.execute("DELETE FROM agent_sessions WHERE user_id = $1 AND id = $2", user.user_id, session)
        conversation_link = await conn.fetchval(
            "SELECT agent_session_id FROM conversations WHERE user_id = $1 AND id = $2",
            user.user_id,
            conversation,
        )
        message_row = await conn.fetchrow(
            "SELECT conversation_id, agent_session_id FROM messages WHERE user_id = $1 AND id = $2",
            user.user_id,
            message,
        )
        activations = await count(conn, "persona_activations", user.user_id)
    assert conversation_link is None
    assert message_row["conversation_id"] == conversation
    assert message_row["agent_session_id"] is None
    assert activations == 0  # persona activations belong to the session: CASCADE


async def test_expired_agent_session_cannot_start_or_resume(keep, make_user) -> None:
    """Seed 002 scenario: an expired agent session is refused with a clear error (SDK)."""
    user = await make_user()
    expired = datetime.now(UTC) - timedelta(minutes=5)
    session = await keep.agent_sessions.create(
        user.user_id, NewAgentSession(agent_type="developer", expires_at=expired)
    )
    with pytest.raises(SessionExpired):
        await keep.agent_sessions.transition(user.user_id, session.id, StatusChange(status="approved"))
    assert (await keep.agent_sessions.get(user.user_id, session.id)).status == "initializing"
    cancelled = await keep.agent_sessions.transition(
        user.user_id, session.id, StatusChange(status="cancelled")
    )
    assert cancelled.status == "cancelled"
    assert cancelled.completed_at is not None


async def test_stale_version_update_is_refused(keep, make_user) -> None:
    """001/002 optimistic locking: an update naming a version someone else moved on is refused."""
    user = await make_user()
    session = await keep.agent_sessions.create(user.user_id, NewAgentSession(agent_type="developer"))
    assert session.version == 1
    first = await keep.agent_sessions.update(
        user.user_id, session.id, AgentSessionUpdate(version=1, context={"step": 1})
    )
    assert first.version == 2
    with pytest.raises(StaleVersion):
        await keep.agent_sessions.update(
            user.user_id, session.id, AgentSessionUpdate(version=1, context={"step": "lost"})
        )
    current = await keep.agent_sessions.get(user.user_id, session.id)
    assert (current.version, current.context) == (2, {"step": 1})


async def test_context_carries_across_agent_sessions(keep, make_user) -> None:
    """002 "context maintenance across sessions": a new session can start from the last one's."""
    user = await make_user()
    first = await keep.agent_sessions.create(
        user.user_id,
        NewAgentSession(agent_type="architect", context={"repo": "agentkeep", "style": "terse"}),
    )
    await keep.agent_sessions.create(
        user.user_id, NewAgentSession(agent_type="qa", context={"repo": "other"})
    )
    second = await keep.agent_sessions.create(
        user.user_id,
        NewAgentSession(agent_type="architect", context={"style": "verbose"}, carry_context=True),
    )
    assert first.id != second.id
    assert second.context == {"repo": "agentkeep", "style": "verbose"}

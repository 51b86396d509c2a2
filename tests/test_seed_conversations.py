"""Seed schema: conversations and messages (004, 002 conversation_history, 003 ai_conversations).

docs/seed-mapping.md names these tests, row by row. Every test runs against the real embedded
PostgreSQL; raw SQL runs as the application role (row-level security on) inside a transaction
that is rolled back, so the rows it writes never outlive it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from asyncpg.exceptions import (
    CheckViolationError,
    ForeignKeyViolationError,
)

from agentkeep.ids import new_id
from agentkeep.messages.models import NewMessage
from agentkeep.principal import Principal
from governance_support import insert_event
from seed_helpers import (
    USER_TABLES,
    act_as,
    add_agent,
    add_agent_session,
    add_api_key,
    add_conversation,
    add_decision,
    add_message,
    add_messages_in_bulk,
    add_onboarding,
    add_persona,
    add_persona_activation,
    add_user_session,
    add_vault_rows,
    count,
    refused,
)

# ---------------------------------------------------------------------------------------------
# conversations and messages (004 conversations/messages, 002 conversation_history,
# 003 ai_conversations)
# ---------------------------------------------------------------------------------------------


async def test_conversations_defaults_and_usage_columns(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        conversation = await add_conversation(conn, user.user_id)
        row = await conn.fetchrow(
            "SELECT * FROM conversations WHERE user_id = $1 AND id = $2", user.user_id, conversation
        )
        assert row["is_archived"] is False
        assert json.loads(row["metadata"]) == {}
        assert (row["tokens_used"], row["cost_usd"], row["version"]) == (0, Decimal("0"), 1)
        assert (row["title"], row["model_used"], row["deleted_at"]) == (None, None, None)
        stored = await conn.fetchrow(
            "UPDATE conversations SET tokens_used = 1234, cost_usd = 0.012345, "
            "model_used = 'gpt-4o-mini' "
            "WHERE user_id = $1 AND id = $2 RETURNING tokens_used, cost_usd, model_used",
            user.user_id,
            conversation,
        )
        assert tuple(stored) == (1234, Decimal("0.012345"), "gpt-4o-mini")
        for column in ("tokens_used", "cost_usd"):
            error = await refused(
                conn,
                CheckViolationError,
                f"UPDATE conversations SET {column} = -1 WHERE user_id = $1 AND id = $2",
                user.user_id,
                conversation,
            )
            assert error.constraint_name == "ck_conversations_usage_non_negative"
        error = await refused(
            conn,
            CheckViolationError,
            "UPDATE conversations SET metadata = '[\"tag\"]' WHERE user_id = $1 AND id = $2",
            user.user_id,
            conversation,
        )
        assert error.constraint_name == "ck_conversations_metadata_object"


@pytest.mark.parametrize(
    ("role", "accepted"),
    [
        ("user", True),
        ("assistant", True),
        ("system", True),
        ("tool", True),
        ("agent", False),
        ("bot", False),
    ],
)
async def test_messages_role_is_checked(as_app, make_user, role: str, accepted: bool) -> None:
    """002's role 'agent' is stored as 'assistant' by the SDK; the database refuses 'agent'."""
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        conversation = await add_conversation(conn, user.user_id)
        if accepted:
            message = await add_message(conn, user.user_id, conversation, role=role)
            stored = await conn.fetchval(
                "SELECT role FROM messages WHERE user_id = $1 AND id = $2", user.user_id, message
            )
            assert stored == role
        else:
            error = await refused(
                conn,
                CheckViolationError,
                "INSERT INTO messages (user_id, id, conversation_id, role, content) "
                "VALUES ($1, $2, $3, $4, 'x')",
                user.user_id,
                new_id(),
                conversation,
                role,
            )
            assert error.constraint_name == "ck_messages_role_valid"


async def test_role_agent_is_stored_as_assistant(keep, as_app, make_user) -> None:
    """Seed 002's role 'agent' is accepted by the SDK and stored as 'assistant'."""
    user = await make_user()
    chat = await keep.conversations.create(user.user_id)
    message = await keep.messages.append(
        user.user_id, chat.id, NewMessage(role="agent", content="Refactor done.")
    )
    assert message.role == "assistant"
    async with as_app(Principal.user(user.user_id)) as conn:
        stored = await conn.fetchval(
            "SELECT role FROM messages WHERE user_id = $1 AND id = $2", user.user_id, message.id
        )
    assert stored == "assistant"


async def test_messages_type_token_count_and_defaults(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        conversation = await add_conversation(conn, user.user_id)
        plain = await add_message(conn, user.user_id, conversation)
        row = await conn.fetchrow(
            "SELECT *, now() AS now FROM messages WHERE user_id = $1 AND id = $2",
            user.user_id,
            plain,
        )
        assert row["message_type"] == "text"
        assert json.loads(row["metadata"]) == {}
        assert row["created_at"] == row["updated_at"] == row["now"]
        for message_type in ("code", "command", "file"):
            await add_message(conn, user.user_id, conversation, message_type=message_type)
        await add_message(conn, user.user_id, conversation, token_count=0, model_used="claude-opus-4-1")
        insert = (
            "INSERT INTO messages (user_id, id, conversation_id, role, content, {column}) "
            "VALUES ($1, $2, $3, 'user', 'x', $4)"
        )
        error = await refused(
            conn,
            CheckViolationError,
            insert.format(column="message_type"),
            user.user_id,
            new_id(),
            conversation,
            "video",
        )
        assert error.constraint_name == "ck_messages_message_type_valid"
        error = await refused(
            conn,
            CheckViolationError,
            insert.format(column="token_count"),
            user.user_id,
            new_id(),
            conversation,
            -1,
        )
        assert error.constraint_name == "ck_messages_token_count_non_negative"


@pytest.mark.parametrize("metadata", ['["tag"]', '"text"', "42", "null"])
async def test_messages_metadata_must_be_an_object(as_app, make_user, metadata: str) -> None:
    """002 QA "JSONB validation": message metadata is a JSON object, as conversations' is."""
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        conversation = await add_conversation(conn, user.user_id)
        tagged = await add_message(conn, user.user_id, conversation, metadata='{"tags": ["a"]}')
        error = await refused(
            conn,
            CheckViolationError,
            "INSERT INTO messages (user_id, id, conversation_id, role, content, metadata) "
            "VALUES ($1, $2, $3, 'user', 'x', $4::jsonb)",
            user.user_id,
            new_id(),
            conversation,
            metadata,
        )
        stored = await conn.fetchval(
            "SELECT metadata->'tags'->>0 FROM messages WHERE user_id = $1 AND id = $2", user.user_id, tagged
        )
    assert error.constraint_name == "ck_messages_metadata_object"
    assert stored == "a"


async def test_messages_store_reasoning_trace_and_ethical_validation(as_app, make_user) -> None:
    """004's JSONB examples round-trip and are queryable by path."""
    reasoning_trace = {
        "sub_agents": [
            {"name": "TraitAnalyzer", "output": "Elevated stress markers", "confidence": 0.82},
            {"name": "ContextBuilder", "output": "Work pressure theme", "confidence": 0.91},
        ],
        "synthesis": "Recommend schedule adjustment with high confidence",
    }
    ethical_validation = {
        "othello_version": "1.0.2",
        "checks_performed": ["consent_tier", "harm_potential", "privacy_boundary"],
        "overall": "cleared",
    }
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        conversation = await add_conversation(conn, user.user_id, title="Deadline stress")
        message = await add_message(
            conn,
            user.user_id,
            conversation,
            role="assistant",
            agent_name="FELLO",
            token_count=87,
            reasoning_trace=json.dumps(reasoning_trace),
            ethical_validation=json.dumps(ethical_validation),
        )
        row = await conn.fetchrow(
            "SELECT agent_name, token_count, reasoning_trace->'sub_agents'->1->>'name' AS second, "
            "(ethical_validation->>'overall') AS overall, reasoning_trace, ethical_validation "
            "FROM messages WHERE user_id = $1 AND id = $2 "
            'AND ethical_validation @> \'{"overall": "cleared"}\'',
            user.user_id,
            message,
        )
    assert row is not None
    assert (row["agent_name"], row["token_count"], row["second"], row["overall"]) == (
        "FELLO",
        87,
        "ContextBuilder",
        "cleared",
    )
    assert json.loads(row["reasoning_trace"]) == reasoning_trace
    assert json.loads(row["ethical_validation"]) == ethical_validation


async def test_message_parent_must_be_in_the_same_conversation(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        conversation = await add_conversation(conn, user.user_id)
        elsewhere = await add_conversation(conn, user.user_id)
        parent = await add_message(conn, user.user_id, conversation)
        reply = await add_message(
            conn, user.user_id, conversation, role="assistant", parent_message_id=parent
        )
        error = await refused(
            conn,
            ForeignKeyViolationError,
            "INSERT INTO messages (user_id, id, conversation_id, role, content, parent_message_id) "
            "VALUES ($1, $2, $3, 'user', 'x', $4)",
            user.user_id,
            new_id(),
            elsewhere,
            parent,
        )
        assert error.constraint_name == "fk_messages_user_id_conversation_id_parent_message_id_messages"
        own_id = new_id()
        error = await refused(
            conn,
            CheckViolationError,
            "INSERT INTO messages (user_id, id, conversation_id, role, content, parent_message_id) "
            "VALUES ($1, $2, $3, 'user', 'x', $2)",
            user.user_id,
            own_id,
            conversation,
        )
        assert error.constraint_name == "ck_messages_not_own_parent"
        # Deleting the parent keeps the reply in its conversation, unthreaded.
        await conn.execute("DELETE FROM messages WHERE user_id = $1 AND id = $2", user.user_id, parent)
        row = await conn.fetchrow(
            "SELECT conversation_id, parent_message_id FROM messages WHERE user_id = $1 AND id = $2",
            user.user_id,
            reply,
        )
    assert row["conversation_id"] == conversation
    assert row["parent_message_id"] is None


async def test_message_parent_of_another_user_is_rejected(as_app, make_user) -> None:
    alice, bob = await make_user(), await make_user()
    async with as_app(Principal.user(alice.user_id)) as conn:
        conversation = await add_conversation(conn, alice.user_id)
        alices_message = await add_message(conn, alice.user_id, conversation)
        await act_as(conn, bob.user_id)
        bobs_conversation = await add_conversation(conn, bob.user_id)
        error = await refused(
            conn,
            ForeignKeyViolationError,
            "INSERT INTO messages (user_id, id, conversation_id, role, content, parent_message_id) "
            "VALUES ($1, $2, $3, 'user', 'x', $4)",
            bob.user_id,
            new_id(),
            bobs_conversation,
            alices_message,
        )
        assert error.constraint_name == "fk_messages_user_id_conversation_id_parent_message_id_messages"
        error = await refused(
            conn,
            ForeignKeyViolationError,
            "INSERT INTO messages (user_id, id, conversation_id, role, content) "
            "VALUES ($1, $2, $3, 'user', 'x')",
            bob.user_id,
            new_id(),
            conversation,
        )
    assert error.constraint_name == "fk_messages_user_id_conversation_id_conversations"


async def test_conversation_delete_cascades_to_messages(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        conversation = await add_conversation(conn, user.user_id)
        kept = await add_conversation(conn, user.user_id)
        await add_messages_in_bulk(conn, user.user_id, conversation, 5)
        await add_messages_in_bulk(conn, user.user_id, kept, 3)
        await conn.execute(
            "DELETE FROM conversations WHERE user_id = $1 AND id = $2", user.user_id, conversation
        )
        remaining = await conn.fetch(
            "SELECT conversation_id, count(*) AS n FROM messages WHERE user_id = $1 GROUP BY 1",
            user.user_id,
        )
    assert [(row["conversation_id"], row["n"]) for row in remaining] == [(kept, 3)]


async def test_user_delete_cascades_to_every_user_table(as_app, make_user) -> None:
    """004: ON DELETE CASCADE from users reaches conversations and messages (and the rest)."""
    user = await make_user()
    async with as_app(Principal.service(user.user_id)) as conn:
        await add_api_key(conn, user.user_id)
        await add_vault_rows(conn, user.user_id)
        login = await add_user_session(conn, user.user_id)
        session = await add_agent_session(conn, user.user_id, user_session_id=login)
        await add_persona_activation(conn, user.user_id, session, await add_persona(conn))
        await insert_event(conn, user.user_id, session, "pre_agent_spawn", approved=True)
        conversation = await add_conversation(conn, user.user_id, agent_session_id=session)
        parent = await add_message(conn, user.user_id, conversation)
        await add_message(
            conn, user.user_id, conversation, parent_message_id=parent, agent_session_id=session
        )
        await add_decision(conn, user.user_id, agent_session_id=session, conversation_id=conversation)
        await add_onboarding(conn, user.user_id, session)
        # Revision 0013 (the user's consent tiers and their log come with registration).
        activity = new_id()
        await conn.execute(
            "INSERT INTO agent_activities (user_id, id, agent_name, activity_type, scope, title,"
            " consent_tier_required, trust_level_required)"
            " VALUES ($1, $2, 'FELLO', 'observation', 'global', 't', 'passive', 0)",
            user.user_id,
            activity,
        )
        await conn.execute(
            "INSERT INTO ethical_validations (user_id, id, agent_activity_id, message_id, result)"
            " VALUES ($1, $2, $3, $4, 'passed')",
            user.user_id,
            new_id(),
            activity,
            parent,
        )
        # Five approvals of an agent's decisions earn a level: trust rows of all three tables.
        earning = await add_agent_session(conn, user.user_id, agent_id=await add_agent(conn))
        for _ in range(5):
            await add_decision(
                conn,
                user.user_id,
                agent_session_id=earning,
                user_feedback="approved",
                feedback_by="service",
                feedback_at=datetime.now(UTC),
            )
        before = {table: await count(conn, table, user.user_id) for table in USER_TABLES}
        assert all(before.values()), before
        assert await conn.execute("DELETE FROM users WHERE user_id = $1", user.user_id) == "DELETE 1"
        after = {table: await count(conn, table, user.user_id) for table in USER_TABLES}
    assert after == dict.fromkeys(USER_TABLES, 0)

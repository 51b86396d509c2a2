"""Seed schema: the catalogs, agents (002) and personas with persona_activations (001).

docs/seed-mapping.md names these tests, row by row. Every test runs against the real embedded
PostgreSQL; raw SQL runs as the application role (row-level security on) inside a transaction
that is rolled back, so the rows it writes never outlive it.
"""

from __future__ import annotations

import json

import pytest
from asyncpg.exceptions import (
    CheckViolationError,
    ForeignKeyViolationError,
    InsufficientPrivilegeError,
    RestrictViolationError,
    UniqueViolationError,
)

from agentkeep.ids import new_id
from agentkeep.principal import Principal
from seed_helpers import (
    CATALOG_TABLES,
    act_as,
    add_agent,
    add_agent_session,
    add_conversation,
    add_persona,
    add_persona_activation,
    refused,
    suffix,
)

# ---------------------------------------------------------------------------------------------
# agents and personas (seed 002 agents, seed 001 personas / persona_activations)
# ---------------------------------------------------------------------------------------------


async def test_agents_defaults_and_unique_name(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.service(user.user_id)) as conn:
        name = f"kai-{suffix()}"
        agent = await add_agent(conn, name)
        row = await conn.fetchrow("SELECT * FROM agents WHERE id = $1", agent)
        error = await refused(
            conn,
            UniqueViolationError,
            "INSERT INTO agents (id, name, persona_type) VALUES ($1, $2, 'qa')",
            new_id(),
            name,
        )
    assert error.constraint_name == "uq_agents_name"
    assert json.loads(row["capabilities"]) == {}
    assert json.loads(row["config"]) == {}
    assert row["is_active"] is True
    assert row["version"] == 1


async def test_agents_in_use_cannot_be_deleted(as_app, make_user) -> None:
    """002: explicit RESTRICT from sessions (and conversations) to agents."""
    user = await make_user()
    async with as_app(Principal.service(user.user_id)) as conn:
        used_by_session = await add_agent(conn)
        await add_agent_session(conn, user.user_id, agent_id=used_by_session)
        used_by_conversation = await add_agent(conn)
        await add_conversation(conn, user.user_id, agent_id=used_by_conversation)
        unused = await add_agent(conn)
        session_error = await refused(
            conn, RestrictViolationError, "DELETE FROM agents WHERE id = $1", used_by_session
        )
        conversation_error = await refused(
            conn, RestrictViolationError, "DELETE FROM agents WHERE id = $1", used_by_conversation
        )
        assert await conn.execute("DELETE FROM agents WHERE id = $1", unused) == "DELETE 1"
    assert session_error.constraint_name == "fk_agent_sessions_agent_id_agents"
    assert conversation_error.constraint_name == "fk_conversations_agent_id_agents"


@pytest.mark.parametrize("table", CATALOG_TABLES)
async def test_catalogs_are_read_by_all_and_written_by_service_only(as_app, make_user, table: str) -> None:
    user = await make_user()
    insert = {
        "agents": "INSERT INTO agents (id, name, persona_type) VALUES ($1, $2, 'qa')",
        "personas": "INSERT INTO personas (id, persona_name, persona_version, specialization) "
        "VALUES ($1, $2, '1.0', 'qa')",
    }[table]
    async with as_app(Principal.user(user.user_id)) as conn:
        await refused(conn, InsufficientPrivilegeError, insert, new_id(), f"x-{suffix()}")
    async with as_app(Principal.service(user.user_id)) as conn:
        row_id = new_id()
        await conn.execute(insert, row_id, f"x-{suffix()}")
        assert await conn.fetchval(f"SELECT count(*) FROM {table} WHERE id = $1", row_id) == 1
        # Seen by another user in the same transaction (read policy is USING (true)).
        await act_as(conn, new_id())
        await conn.execute("SET LOCAL agentkeep.principal = ''")
        assert await conn.fetchval(f"SELECT count(*) FROM {table} WHERE id = $1", row_id) == 1
        assert await conn.execute(f"DELETE FROM {table} WHERE id = $1", row_id) == "DELETE 0"


@pytest.mark.parametrize(
    ("priority", "accepted"), [(0, False), (1, True), (5, True), (10, True), (11, False)]
)
async def test_personas_priority_level_between_1_and_10(
    as_app, make_user, priority: int, accepted: bool
) -> None:
    user = await make_user()
    async with as_app(Principal.service(user.user_id)) as conn:
        if accepted:
            persona = await add_persona(conn, priority_level=priority)
            assert (
                await conn.fetchval("SELECT priority_level FROM personas WHERE id = $1", persona) == priority
            )
        else:
            error = await refused(
                conn,
                CheckViolationError,
                "INSERT INTO personas "
                "(id, persona_name, persona_version, specialization, priority_level) "
                "VALUES ($1, $2, '1.0', 'qa', $3)",
                new_id(),
                f"p-{suffix()}",
                priority,
            )
            assert error.constraint_name == "ck_personas_priority_valid"


async def test_personas_name_and_version_are_unique_together(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.service(user.user_id)) as conn:
        name = f"Dr. Sarah Chen {suffix()}"
        first = await add_persona(conn, name, "1.2")
        row = await conn.fetchrow("SELECT * FROM personas WHERE id = $1", first)
        await add_persona(conn, name, "1.3")  # a new version of the same persona
        error = await refused(
            conn,
            UniqueViolationError,
            "INSERT INTO personas (id, persona_name, persona_version, specialization) "
            "VALUES ($1, $2, '1.2', 'qa')",
            new_id(),
            name,
        )
    assert error.constraint_name == "uq_personas_persona_name_persona_version"
    assert row["priority_level"] == 5
    assert row["is_active"] is True
    assert row["is_core"] is False
    for column in ("capabilities", "activation_rules", "crisis_scenarios", "behavioral_patterns"):
        assert json.loads(row[column]) == {}


async def test_persona_activations_belong_to_the_users_agent_session(as_app, make_user) -> None:
    alice, bob = await make_user(), await make_user()
    async with as_app(Principal.service(alice.user_id)) as conn:
        persona = await add_persona(conn)
        alices_session = await add_agent_session(conn, alice.user_id)
        activation = await add_persona_activation(
            conn,
            alice.user_id,
            alices_session,
            persona,
            activation_context='{"reason": "incident"}',
        )
        row = await conn.fetchrow(
            "SELECT activated_at, deactivated_at, results, now() AS now FROM persona_activations "
            "WHERE user_id = $1 AND id = $2",
            alice.user_id,
            activation,
        )
        assert row["activated_at"] == row["now"]
        assert row["deactivated_at"] is None
        assert row["results"] is None
        error = await refused(
            conn,
            CheckViolationError,
            "UPDATE persona_activations SET deactivated_at = activated_at - interval '1 second' "
            "WHERE user_id = $1 AND id = $2",
            alice.user_id,
            activation,
        )
        assert error.constraint_name == "ck_persona_activations_deactivated_after"
        await act_as(conn, bob.user_id)
        error = await refused(
            conn,
            ForeignKeyViolationError,
            "INSERT INTO persona_activations "
            "(user_id, id, agent_session_id, persona_id, activation_trigger) "
            "VALUES ($1, $2, $3, $4, 'x')",
            bob.user_id,
            new_id(),
            alices_session,
            persona,
        )
    assert error.constraint_name == "fk_persona_activations_user_id_agent_session_id_agent_sessions"


async def test_personas_in_use_cannot_be_deleted(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.service(user.user_id)) as conn:
        persona = await add_persona(conn)
        await add_persona_activation(conn, user.user_id, await add_agent_session(conn, user.user_id), persona)
        error = await refused(conn, RestrictViolationError, "DELETE FROM personas WHERE id = $1", persona)
    assert error.constraint_name == "fk_persona_activations_persona_id_personas"

"""Seed 001 (AI Development Assistant) through the ``devassist`` compatibility schema.

As the application role, for two users: the seed's own view (``user_activity_summary``,
001:376-388) and function (``db_health_check()``, 001:488-525), and reads of its tables by the
seed's names, written as its indexes (001:123-126, 158-166, 232-235) are meant to be used.
"""

from __future__ import annotations

import re
from decimal import Decimal

import asyncpg
import pytest

from agentkeep.database import migrate
from agentkeep.keep import Keep
from compat_helpers import AsApp, World, build_world, ids, seed_query, view_columns

# The seed's columns, in its order: 001:106-120, ER 001:40-49, 001:132-155, 001:212-229, ER 001:89-98.
COLUMNS = {
    "users": [
        "user_id",
        "email",
        "username",
        "full_name",
        "preferences_json",
        "auth_provider",
        "auth_external_id",
        "created_at",
        "last_active_at",
        "is_active",
        "version",
    ],
    "user_sessions": [
        "session_id",
        "user_id",
        "session_type",
        "session_context",
        "started_at",
        "ended_at",
        "status",
        "version",
    ],
    "agent_sessions": [
        "agent_session_id",
        "user_id",
        "session_id",
        "agent_type",
        "agent_config",
        "personas_active",
        "governance_state",
        "status",
        "created_at",
        "started_at",
        "completed_at",
        "error_details",
        "token_cost",
        "estimated_cost",
        "max_cost_limit",
        "version",
    ],
    "personas": [
        "persona_id",
        "persona_name",
        "persona_version",
        "specialization",
        "capabilities",
        "activation_rules",
        "crisis_scenarios",
        "behavioral_patterns",
        "is_active",
        "is_core",
        "priority_level",
        "created_at",
        "updated_at",
    ],
    "persona_activations": [
        "activation_id",
        "agent_session_id",
        "persona_id",
        "activation_trigger",
        "activation_context",
        "activated_at",
        "deactivated_at",
        "results",
    ],
    "user_activity_summary": [
        "user_id",
        "username",
        "last_active_at",
        "total_sessions",
        "total_cost",
        "avg_cost_per_session",
        "last_session_at",
    ],
}

# 001:376-388, verbatim (trailing blanks included), as the seed defines the view.
SEED_USER_ACTIVITY_SUMMARY = """CREATE VIEW user_activity_summary AS
SELECT 
    u.user_id,
    u.username,
    u.last_active_at,
    COUNT(a.agent_session_id) as total_sessions,
    SUM(a.token_cost) as total_cost,
    AVG(a.token_cost) as avg_cost_per_session,
    MAX(a.created_at) as last_session_at
FROM users u
LEFT JOIN agent_sessions a ON u.user_id = a.user_id
WHERE u.is_active = true
GROUP BY u.user_id, u.username, u.last_active_at;"""  # noqa: W291 - the seed's own text

# Reads of the seed's view and function (001:376 `user_activity_summary`, 001:488 `db_health_check()`).
ACTIVITY_SUMMARY = "SELECT * FROM user_activity_summary"
HEALTH_CHECK = "SELECT metric, value, status, threshold FROM db_health_check()"
# 001:123 `CREATE INDEX idx_users_email ON users(email);`
USER_BY_EMAIL = "SELECT * FROM users WHERE email = $1"
# 001:125 `CREATE INDEX idx_users_active ON users(is_active, last_active_at);`
ACTIVE_USERS = "SELECT * FROM users WHERE is_active = true ORDER BY last_active_at DESC"
# ER 001:40-49 USER_SESSIONS (uuid user_id FK)
USER_SESSIONS_OF_USER = "SELECT * FROM user_sessions WHERE user_id = $1"
# 001:158 `CREATE INDEX idx_agent_sessions_user ON agent_sessions(user_id);`
AGENT_SESSIONS_OF_USER = "SELECT * FROM agent_sessions WHERE user_id = $1"
# 001:165-166 `idx_agent_sessions_active ON agent_sessions(created_at, status)
#     WHERE status IN ('running', 'pending_approval', 'approved');`
ACTIVE_AGENT_SESSIONS = (
    "SELECT * FROM agent_sessions WHERE status IN ('running', 'pending_approval', 'approved')"
    " ORDER BY created_at"
)
# 001:232 `idx_personas_active ON personas(is_active)`, 001:234 `idx_personas_priority ON
# personas(priority_level)`
ACTIVE_PERSONAS = "SELECT * FROM personas WHERE is_active = true ORDER BY priority_level"
# ER 001:89-98 PERSONA_ACTIVATIONS (agent_session_id FK, persona_id FK),
# 001:26 `PERSONAS ||--o{ PERSONA_ACTIVATIONS : used_in`
ACTIVATIONS_OF_SESSION = (
    "SELECT pa.*, p.persona_name FROM persona_activations pa JOIN personas p ON p.persona_id = pa.persona_id"
    " WHERE pa.agent_session_id = $1"
)


@pytest.fixture(scope="module")
async def world(keep: Keep) -> World:
    return await build_world(keep)


@pytest.mark.parametrize("view", sorted(COLUMNS))
async def test_devassist_views_have_the_seed_columns_in_order(as_app: AsApp, view: str) -> None:
    assert await view_columns(as_app, "devassist", view) == COLUMNS[view]


def test_user_activity_summary_is_the_seeds_own_text() -> None:
    module = migrate.script_directory().get_revision("0003").module
    served = module.DEVASSIST_USER_ACTIVITY_SUMMARY
    # Only trailing blanks differ (the repository strips them).
    assert served.strip() == re.sub(r"[ \t]+\n", "\n", SEED_USER_ACTIVITY_SUMMARY).strip()


async def test_user_activity_summary_shows_each_user_only_their_own_row(as_app: AsApp, world: World) -> None:
    for person in world.people:
        [row] = await seed_query(as_app, person.user_id, "devassist", ACTIVITY_SUMMARY)
        assert list(row.keys()) == COLUMNS["user_activity_summary"]
        assert row["user_id"] == person.user_id
        # A Kai session and a developer session; only the developer session was charged.
        assert row["total_sessions"] == 2
        assert row["total_cost"] == person.token_cost
        assert row["avg_cost_per_session"] == person.token_cost / 2
    assert await seed_query(as_app, None, "devassist", ACTIVITY_SUMMARY) == []


async def test_db_health_check_runs_as_the_application_role(as_app: AsApp, world: World) -> None:
    rows = await seed_query(as_app, world.alice.user_id, "devassist", HEALTH_CHECK)
    assert [row["metric"] for row in rows] == ["active_connections", "db_size_mb", "cache_hit_ratio"]
    for row in rows:
        assert row["status"] == ("OK" if row["value"] <= row["threshold"] else "WARNING")
    assert rows[0]["value"] >= 1  # this very query is an active connection
    assert rows[2]["threshold"] == Decimal(90)


async def test_db_health_check_as_the_seed_writes_it_fails_on_postgresql(owner: asyncpg.Connection) -> None:
    """Why the served function differs from 001:488-525 by two casts."""
    served = migrate.script_directory().get_revision("0003").module.DEVASSIST_DB_HEALTH_CHECK
    as_written = (
        served.replace("h.metric::VARCHAR(50),", "h.metric,")
        .replace(
            "(CASE WHEN h.value <= h.threshold THEN 'OK' ELSE 'WARNING' END)::VARCHAR(20),",
            "CASE WHEN h.value <= h.threshold THEN 'OK' ELSE 'WARNING' END,",
        )
        .replace("db_health_check()", "pg_temp.seed_db_health_check()")
    )
    assert "::VARCHAR" not in as_written
    async with owner.transaction():
        await owner.execute("SET LOCAL citus.enable_ddl_propagation = off")  # a placeholder without Citus
        await owner.execute(as_written)
        with pytest.raises(asyncpg.DatatypeMismatchError, match="does not match function result type"):
            await owner.fetch("SELECT * FROM pg_temp.seed_db_health_check()")


async def test_users_each_user_sees_only_their_own(as_app: AsApp, world: World) -> None:
    alice, bob = world.people
    [row] = await seed_query(as_app, alice.user_id, "devassist", USER_BY_EMAIL, alice.email)
    assert (row["user_id"], row["version"], row["auth_provider"]) == (alice.user_id, 1, "local")
    assert await seed_query(as_app, alice.user_id, "devassist", USER_BY_EMAIL, bob.email) == []
    for person in world.people:
        rows = await seed_query(as_app, person.user_id, "devassist", ACTIVE_USERS)
        assert ids(rows, "user_id") == {person.user_id}
    assert await seed_query(as_app, None, "devassist", ACTIVE_USERS) == []


async def test_user_sessions_each_user_sees_only_their_own(as_app: AsApp, world: World) -> None:
    alice, bob = world.people
    for person, other in ((alice, bob), (bob, alice)):
        rows = await seed_query(as_app, person.user_id, "devassist", USER_SESSIONS_OF_USER, person.user_id)
        assert ids(rows, "session_id") == {person.user_session_id}
        assert [row["status"] for row in rows] == ["active"]
        assert (
            await seed_query(as_app, person.user_id, "devassist", USER_SESSIONS_OF_USER, other.user_id) == []
        )
    assert await seed_query(as_app, None, "devassist", USER_SESSIONS_OF_USER, alice.user_id) == []


async def test_agent_sessions_each_user_sees_only_their_own(as_app: AsApp, world: World) -> None:
    for person in world.people:
        rows = await seed_query(as_app, person.user_id, "devassist", AGENT_SESSIONS_OF_USER, person.user_id)
        assert ids(rows, "agent_session_id") == {person.kai_session_id, person.dev_session_id}
        by_id = {row["agent_session_id"]: row for row in rows}
        # The seed's session_id is the user session the agent session runs in.
        assert by_id[person.dev_session_id]["session_id"] == person.user_session_id
        assert by_id[person.dev_session_id]["token_cost"] == person.token_cost
        active = await seed_query(as_app, person.user_id, "devassist", ACTIVE_AGENT_SESSIONS)
        assert [(row["agent_session_id"], row["status"]) for row in active] == [
            (person.dev_session_id, "running")
        ]
    assert await seed_query(as_app, None, "devassist", ACTIVE_AGENT_SESSIONS) == []


async def test_personas_are_the_shared_catalog(as_app: AsApp, world: World) -> None:
    seen = [
        ids(await seed_query(as_app, person.user_id, "devassist", ACTIVE_PERSONAS), "persona_id")
        for person in world.people
    ]
    # A catalog, not a user's rows: every user reads the same personas.
    assert world.catalog.persona_id in seen[0]
    assert seen[0] == seen[1]


async def test_persona_activations_each_user_sees_only_their_own(as_app: AsApp, world: World) -> None:
    alice, bob = world.people
    for person, other in ((alice, bob), (bob, alice)):
        [row] = await seed_query(
            as_app, person.user_id, "devassist", ACTIVATIONS_OF_SESSION, person.dev_session_id
        )
        assert (row["activation_id"], row["persona_name"]) == (
            person.activation_id,
            world.catalog.persona_name,
        )
        assert (
            await seed_query(
                as_app, person.user_id, "devassist", ACTIVATIONS_OF_SESSION, other.dev_session_id
            )
            == []
        )
    assert await seed_query(as_app, None, "devassist", ACTIVATIONS_OF_SESSION, alice.dev_session_id) == []

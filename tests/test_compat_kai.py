"""Seed 000 (Agent Kai) through the ``kai`` compatibility schema, as the application role.

000 writes no SELECT of its own: the queries are those its DDL and index are for
(``idx_kai_sessions_user``, 000:39), spelled with the seed's table and column names.
"""

from __future__ import annotations

import pytest

from agentkeep.keep import Keep
from compat_helpers import AsApp, World, build_world, ids, seed_query, view_columns

# 000:22-37, the columns of kai_sessions in the seed's order.
KAI_SESSIONS_COLUMNS = [
    "session_id",
    "user_id",
    "processing_mode",
    "risk_profile",
    "legal_acknowledged",
    "onboarding_complete",
    "created_at",
    "updated_at",
]

# 000:39 `CREATE INDEX IF NOT EXISTS idx_kai_sessions_user ON kai_sessions(user_id);`
BY_USER = (
    "SELECT session_id, user_id, processing_mode, risk_profile, legal_acknowledged, onboarding_complete,"
    " created_at, updated_at FROM kai_sessions WHERE user_id = $1"
)
# 000:23 `session_id TEXT PRIMARY KEY`
BY_SESSION = "SELECT * FROM kai_sessions WHERE session_id = $1"
ALL_SESSIONS = "SELECT * FROM kai_sessions"


@pytest.fixture(scope="module")
async def world(keep: Keep) -> World:
    return await build_world(keep)


async def test_kai_sessions_has_the_seed_columns_in_order(as_app: AsApp) -> None:
    assert await view_columns(as_app, "kai", "kai_sessions") == KAI_SESSIONS_COLUMNS


async def test_each_user_sees_exactly_their_own_kai_sessions(as_app: AsApp, world: World) -> None:
    for person in world.people:
        rows = await seed_query(as_app, person.user_id, "kai", ALL_SESSIONS)
        # Only the agent session of type 'kai' is a Kai session; the developer one is not.
        assert ids(rows, "session_id") == {person.kai_session_id}
        assert ids(rows, "user_id") == {person.user_id}


async def test_seed_lookup_by_user_returns_only_the_acting_users_session(as_app: AsApp, world: World) -> None:
    alice, bob = world.people
    [row] = await seed_query(as_app, alice.user_id, "kai", BY_USER, alice.user_id)
    assert (row["session_id"], row["processing_mode"], row["risk_profile"]) == (
        alice.kai_session_id,
        "hybrid",
        "balanced",
    )
    assert row["legal_acknowledged"] is True
    # Not answered: the seed's DEFAULT FALSE.
    assert row["onboarding_complete"] is False
    # Asking for bob's rows while acting as alice finds nothing.
    assert await seed_query(as_app, alice.user_id, "kai", BY_USER, bob.user_id) == []
    [bobs] = await seed_query(as_app, bob.user_id, "kai", BY_USER, bob.user_id)
    assert bobs["processing_mode"] == "on_device"


async def test_seed_lookup_by_session_id(as_app: AsApp, world: World) -> None:
    alice, bob = world.people
    [row] = await seed_query(as_app, alice.user_id, "kai", BY_SESSION, alice.kai_session_id)
    assert list(row.keys()) == KAI_SESSIONS_COLUMNS
    assert row["user_id"] == alice.user_id
    assert await seed_query(as_app, bob.user_id, "kai", BY_SESSION, alice.kai_session_id) == []
    # A string literal, as 000's TEXT ids were written, compares with the uuid.
    literal = f"SELECT session_id FROM kai_sessions WHERE session_id = '{bob.kai_session_id}'"
    assert ids(await seed_query(as_app, bob.user_id, "kai", literal), "session_id") == {bob.kai_session_id}


async def test_no_acting_user_sees_no_kai_sessions(as_app: AsApp, world: World) -> None:
    assert await seed_query(as_app, None, "kai", ALL_SESSIONS) == []
    assert await seed_query(as_app, None, "kai", BY_USER, world.alice.user_id) == []

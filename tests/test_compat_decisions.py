"""Seed 000 ``kai_decisions`` and seed 002 ``agent_decisions`` through their compatibility schemas,
as the application role, for two users (and for nobody).

Neither seed writes a SELECT: the queries are those their indexes are for (000:68-69
``idx_kai_decisions_user``, ``idx_kai_decisions_ticker``; 002:320 the index on
``agent_decisions.decision_type``; 002:312 "index on session_id for all related tables"), spelled
with the seeds' names. The shared test database applies no profile, so the decision card is
stored in plaintext here and the ciphertext columns read NULL; tests/test_decisions_vault.py
reads them under the ``kai`` profile.
"""

from __future__ import annotations

from decimal import Decimal

import asyncpg
import pytest

from agentkeep.keep import Keep
from compat_helpers import AsApp, World, build_world, ids, seed_query, view_columns

# 000:45-63, in the seed's order.
KAI_DECISIONS_COLUMNS = [
    "id",
    "user_id",
    "session_id",
    "ticker",
    "decision_type",
    "decision_ciphertext",
    "debate_ciphertext",
    "iv",
    "tag",
    "algorithm",
    "confidence_score",
    "created_at",
]
# 002:66-77, in the seed's order.
AGENT_DECISIONS_COLUMNS = [
    "decision_id",
    "session_id",
    "decision_type",
    "input_context",
    "decision_rationale",
    "action_taken",
    "confidence_score",
    "user_feedback",
    "created_at",
    "execution_time_ms",
]

# 000:68 idx_kai_decisions_user
KAI_BY_USER = "SELECT * FROM kai_decisions WHERE user_id = $1 ORDER BY created_at DESC"
# 000:69 idx_kai_decisions_ticker
KAI_BY_TICKER = "SELECT id, ticker, decision_type, confidence_score FROM kai_decisions WHERE ticker = $1"
# 000:48 session_id REFERENCES kai_sessions(session_id): a session's decisions, joined by the seed's names
KAI_OF_SESSION = (
    "SELECT d.id, s.processing_mode, s.risk_profile FROM kai_decisions d"
    " JOIN kai_sessions s ON s.session_id = d.session_id WHERE s.session_id = $1"
)
# 002:320 decision_type filtering; 002:312 by session_id
AGENTIC_BY_TYPE = "SELECT * FROM agent_decisions WHERE decision_type = $1"
AGENTIC_BY_SESSION = (
    "SELECT decision_id, confidence_score, execution_time_ms FROM agent_decisions WHERE session_id = $1"
)


@pytest.fixture(scope="module")
async def world(keep: Keep) -> World:
    return await build_world(keep)


async def test_the_views_have_the_seed_columns_in_order(as_app: AsApp) -> None:
    assert await view_columns(as_app, "kai", "kai_decisions") == KAI_DECISIONS_COLUMNS
    assert await view_columns(as_app, "agentic", "agent_decisions") == AGENT_DECISIONS_COLUMNS


async def test_each_user_sees_exactly_their_own_kai_decisions(as_app: AsApp, world: World) -> None:
    for person in world.people:
        rows = await seed_query(as_app, person.user_id, "kai", KAI_BY_USER, person.user_id)
        # Both of the user's decisions: the Kai one and the developer session's.
        assert ids(rows, "id") == {person.kai_decision_id, person.dev_decision_id}
        assert ids(rows, "user_id") == {person.user_id}
        other = world.bob if person is world.alice else world.alice
        assert await seed_query(as_app, person.user_id, "kai", KAI_BY_USER, other.user_id) == []
    assert await seed_query(as_app, None, "kai", "SELECT * FROM kai_decisions") == []


async def test_seed_lookup_by_ticker_and_session(as_app: AsApp, world: World) -> None:
    alice, bob = world.people
    [row] = await seed_query(as_app, alice.user_id, "kai", KAI_BY_TICKER, "NVDA")
    assert tuple(row) == (alice.kai_decision_id, "NVDA", "buy", Decimal("0.80"))
    # Bob's ticker is invisible to Alice, and hers to him.
    assert await seed_query(as_app, alice.user_id, "kai", KAI_BY_TICKER, "AMD") == []
    assert await seed_query(as_app, bob.user_id, "kai", KAI_BY_TICKER, "NVDA") == []
    [joined] = await seed_query(as_app, bob.user_id, "kai", KAI_OF_SESSION, bob.kai_session_id)
    assert tuple(joined) == (bob.kai_decision_id, "on_device", "balanced")


async def test_a_plaintext_card_has_no_ciphertext_columns(as_app: AsApp, world: World) -> None:
    [row] = await seed_query(
        as_app,
        world.alice.user_id,
        "kai",
        "SELECT * FROM kai_decisions WHERE id = $1",
        world.alice.kai_decision_id,
    )
    assert [row[c] for c in ("decision_ciphertext", "debate_ciphertext", "iv", "tag", "algorithm")] == [
        None
    ] * 5


async def test_agent_decisions_by_type_and_session(as_app: AsApp, world: World) -> None:
    for person in world.people:
        rows = await seed_query(as_app, person.user_id, "agentic", AGENTIC_BY_TYPE, "code_generation")
        assert ids(rows, "decision_id") == {person.dev_decision_id}
        [row] = rows
        assert list(row.keys()) == AGENT_DECISIONS_COLUMNS
        assert (row["session_id"], row["confidence_score"], row["execution_time_ms"]) == (
            person.dev_session_id,
            Decimal("0.55"),
            1200,
        )
        assert row["input_context"] is not None and row["user_feedback"] is None
        by_session = await seed_query(
            as_app, person.user_id, "agentic", AGENTIC_BY_SESSION, person.dev_session_id
        )
        assert ids(by_session, "decision_id") == {person.dev_decision_id}
    assert await seed_query(as_app, None, "agentic", AGENTIC_BY_TYPE, "code_generation") == []


@pytest.mark.parametrize(
    ("schema", "statement"),
    [
        ("kai", "INSERT INTO kai_decisions (id, user_id) VALUES (gen_random_uuid(), gen_random_uuid())"),
        ("kai", "CREATE INDEX IF NOT EXISTS idx_kai_decisions_ticker ON kai_decisions(ticker)"),
        ("agentic", "UPDATE agent_decisions SET user_feedback = 'approved'"),
    ],
)
async def test_the_views_are_read_only(as_app: AsApp, world: World, schema: str, statement: str) -> None:
    # PostgreSQL refuses for want of the privilege; Citus refuses any write through a view over its
    # tables before it looks at privileges.
    with pytest.raises((asyncpg.InsufficientPrivilegeError, asyncpg.FeatureNotSupportedError)):
        await seed_query(as_app, world.alice.user_id, schema, statement)

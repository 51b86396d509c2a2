"""Decisions through the SDK (seed 000 kai_decisions, seed 002 agent_decisions): record, list
newest first with filters and a cursor, read, feedback with who and when; tenancy; bad input.

The shared test database has no profile applied, so the default profile's policy holds:
``decision_rationale`` is encrypted (tests/test_decisions_vault.py), the card and the debate
are plaintext. These tests leave the rationale out unless they test the policy.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import asyncpg
import pytest
from pydantic import ValidationError

from agentkeep.agent_sessions.models import NewAgentSession
from agentkeep.conversations.models import NewConversation
from agentkeep.database.engine import Database
from agentkeep.decisions.models import FeedbackChange, NewDecision
from agentkeep.errors import InvalidInput, NotFound, StaleVersion
from agentkeep.keep import Keep
from agentkeep.principal import Principal
from audit_support import superuser


async def _session(keep: Keep, user_id: uuid.UUID) -> uuid.UUID:
    return (await keep.agent_sessions.create(user_id, NewAgentSession(agent_type="kai"))).id


async def test_a_decision_round_trips_with_every_field(keep: Keep, make_user) -> None:
    user = await make_user()
    session = await _session(keep, user.user_id)
    chat = await keep.conversations.create(user.user_id, NewConversation(agent_session_id=session))
    card = {"ticker": "NVDA", "verdict": "buy", "reasons": ["growth", "margin"]}
    made = await keep.decisions.create(
        user.user_id,
        NewDecision(
            decision_type="buy",
            agent_session_id=session,
            conversation_id=chat.id,
            subject="NVDA",
            input_context={"price": 131.2},
            action_taken={"order": "limit"},
            decision_card=card,
            debate_transcript="bull: ...\nbear: ...",
            confidence_score=Decimal("0.85"),
            execution_time_ms=412,
        ),
    )
    assert (made.user_id, made.agent_session_id, made.conversation_id) == (user.user_id, session, chat.id)
    assert (made.decision_type, made.subject, made.confidence_score) == ("buy", "NVDA", Decimal("0.85"))
    assert made.decision_card == card
    assert made.debate_transcript == "bull: ...\nbear: ..."
    assert made.encrypted_fields == []  # the default profile seals only the rationale
    assert (made.user_feedback, made.feedback_by, made.feedback_at) == (None, None, None)
    assert made.version == 1
    assert await keep.decisions.get(user.user_id, made.id) == made


async def test_list_is_newest_first_filtered_and_keyset_paginated(keep: Keep, make_user) -> None:
    user = await make_user()
    made = []
    for ticker, kind in [
        ("AAPL", "buy"),
        ("MSFT", "hold"),
        ("AAPL", "reduce"),
        ("AAPL", "hold"),
        ("TSLA", "buy"),
    ]:
        made.append(
            await keep.decisions.create(user.user_id, NewDecision(decision_type=kind, subject=ticker))
        )
    newest_first = [decision.id for decision in reversed(made)]

    first = await keep.decisions.list(user.user_id, limit=2)
    assert [d.id for d in first.items] == newest_first[:2]
    second = await keep.decisions.list(user.user_id, limit=2, before=first.next_cursor)
    third = await keep.decisions.list(user.user_id, limit=2, before=second.next_cursor)
    assert [d.id for d in second.items + third.items] == newest_first[2:]
    assert third.next_cursor is None

    aapl = await keep.decisions.list(user.user_id, subject="AAPL")
    assert [d.id for d in aapl.items] == [made[3].id, made[2].id, made[0].id]
    holds = await keep.decisions.list(user.user_id, decision_type="hold")
    assert [d.id for d in holds.items] == [made[3].id, made[1].id]
    aapl_holds = await keep.decisions.list(user.user_id, subject="AAPL", decision_type="hold")
    assert [d.id for d in aapl_holds.items] == [made[3].id]


async def test_list_by_agent_session(keep: Keep, make_user) -> None:
    user = await make_user()
    one, other = await _session(keep, user.user_id), await _session(keep, user.user_id)
    mine = await keep.decisions.create(user.user_id, NewDecision(decision_type="buy", agent_session_id=one))
    await keep.decisions.create(user.user_id, NewDecision(decision_type="buy", agent_session_id=other))
    listed = await keep.decisions.list(user.user_id, agent_session_id=one)
    assert [d.id for d in listed.items] == [mine.id]


async def test_feedback_is_recorded_with_who_and_when(keep: Keep, make_user) -> None:
    user = await make_user()
    made = await keep.decisions.create(user.user_id, NewDecision(decision_type="review"))
    by_user = await keep.decisions.set_feedback(
        Principal.user(user.user_id), made.id, FeedbackChange(user_feedback="approved", version=1)
    )
    assert (by_user.user_feedback, by_user.feedback_by, by_user.version) == ("approved", "user", 2)
    assert by_user.feedback_at is not None and by_user.feedback_at >= made.created_at
    # A backend service acting for the user (an SDK call with a bare user id) is recorded as such.
    by_service = await keep.decisions.set_feedback(
        user.user_id, made.id, FeedbackChange(user_feedback="modified")
    )
    assert (by_service.user_feedback, by_service.feedback_by, by_service.version) == (
        "modified",
        "service",
        3,
    )
    with pytest.raises(StaleVersion):
        await keep.decisions.set_feedback(
            user.user_id, made.id, FeedbackChange(user_feedback="rejected", version=2)
        )
    assert (await keep.decisions.get(user.user_id, made.id)).user_feedback == "modified"


async def test_feedback_is_audited_with_the_actor(keep: Keep, make_user, database: Database) -> None:
    user = await make_user()
    made = await keep.decisions.create(user.user_id, NewDecision(decision_type="test"))
    await keep.decisions.set_feedback(
        Principal.user(user.user_id), made.id, FeedbackChange(user_feedback="rejected")
    )
    async with superuser(database) as conn:
        entry = await conn.fetchrow(
            "SELECT operation, actor, acting_user_id, old_values ->> 'user_feedback' AS old,"
            " new_values ->> 'user_feedback' AS new, new_values ->> 'feedback_by' AS feedback_by"
            " FROM audit_log WHERE user_id = $1 AND table_name = 'decisions' ORDER BY seq DESC LIMIT 1",
            user.user_id,
        )
    assert dict(entry) == {
        "operation": "UPDATE",
        "actor": "user",
        "acting_user_id": user.user_id,
        "old": None,
        "new": "rejected",
        "feedback_by": "user",
    }


async def test_a_user_never_reaches_another_users_decisions(keep: Keep, make_user) -> None:
    alice, bob = await make_user(), await make_user()
    hers = await keep.decisions.create(alice.user_id, NewDecision(decision_type="buy", subject="AMD"))
    with pytest.raises(NotFound):
        await keep.decisions.get(bob.user_id, hers.id)
    with pytest.raises(NotFound):
        await keep.decisions.set_feedback(bob.user_id, hers.id, FeedbackChange(user_feedback="rejected"))
    assert (await keep.decisions.list(bob.user_id, subject="AMD")).items == []
    # Bob cannot file a decision under Alice's session: the composite key finds no such session of his.
    her_session = await _session(keep, alice.user_id)
    with pytest.raises(NotFound) as refused:
        await keep.decisions.create(
            bob.user_id, NewDecision(decision_type="buy", agent_session_id=her_session)
        )
    assert refused.value.field == "agent_session_id"
    assert (await keep.decisions.get(alice.user_id, hers.id)).user_feedback is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"decision_type": "buy", "confidence_score": Decimal("1.01")}, "confidence_score"),
        ({"decision_type": "buy", "confidence_score": Decimal("-0.01")}, "confidence_score"),
        ({"decision_type": "buy", "confidence_score": Decimal("0.123")}, "confidence_score"),
        ({"decision_type": "buy", "execution_time_ms": -1}, "execution_time_ms"),
        ({"decision_type": ""}, "decision_type"),
        ({"decision_type": "buy", "subject": "x" * 101}, "subject"),
        ({"decision_type": "buy", "input_context": [1]}, "input_context"),
        ({"decision_type": "buy", "extra": 1}, "extra"),
    ],
)
def test_bad_input_is_refused_by_the_model_naming_the_field(fields: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        NewDecision.model_validate(fields)
    assert {".".join(map(str, error["loc"])) for error in refused.value.errors()} == {field}


async def test_a_type_or_feedback_outside_the_vocabulary_is_refused_by_the_database(
    keep: Keep, make_user
) -> None:
    user = await make_user()
    with pytest.raises(InvalidInput) as refused:
        await keep.decisions.create(user.user_id, NewDecision(decision_type="sell"))
    assert refused.value.field == "decision_type"
    assert "'sell' is not a term of the vocabulary decision_type" in refused.value.detail
    made = await keep.decisions.create(user.user_id, NewDecision(decision_type="hold"))
    with pytest.raises(InvalidInput) as refused:
        await keep.decisions.set_feedback(user.user_id, made.id, FeedbackChange(user_feedback="maybe"))
    assert refused.value.field == "user_feedback"
    assert (await keep.decisions.get(user.user_id, made.id)).version == 1


@pytest.mark.parametrize(
    ("assignment", "constraint"),
    [
        ("confidence_score = 1.5", "ck_decisions_confidence_score_range"),
        ("execution_time_ms = -5", "ck_decisions_execution_time_ms_non_negative"),
        ("rationale = 'plain', rationale_sealed = '\\x01'::bytea", "ck_decisions_rationale_one_form"),
        ("user_feedback = 'approved'", "ck_decisions_user_feedback_recorded"),
        (
            "user_feedback = 'approved', feedback_at = now(), feedback_by = 'robot'",
            "ck_decisions_feedback_by_valid",
        ),
    ],
)
async def test_raw_sql_cannot_break_the_rules(
    as_app, keep: Keep, make_user, assignment: str, constraint: str
) -> None:
    user = await make_user()
    made = await keep.decisions.create(user.user_id, NewDecision(decision_type="buy"))
    async with as_app(Principal.user(user.user_id)) as conn:
        with pytest.raises(asyncpg.CheckViolationError, match=constraint):
            await conn.execute(f"UPDATE decisions SET {assignment} WHERE id = $1", made.id)


async def test_deleting_the_agent_session_takes_its_decisions(keep: Keep, make_user, as_app) -> None:
    user = await make_user()
    session = await _session(keep, user.user_id)
    made = await keep.decisions.create(
        user.user_id, NewDecision(decision_type="buy", agent_session_id=session)
    )
    async with as_app(Principal.user(user.user_id)) as conn:
        await conn.execute("DELETE FROM agent_sessions WHERE id = $1", session)
        assert await conn.fetchval("SELECT count(*) FROM decisions WHERE id = $1", made.id) == 0

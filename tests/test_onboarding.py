"""Seed 000's onboarding answers (kai_sessions: processing_mode, risk_profile, legal_acknowledged,
onboarding_complete; stored as is_legal_acknowledged and is_onboarding_complete) through the SDK
and raw SQL, and 002's context carried across sessions."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from pydantic import ValidationError

from agentkeep.agent_sessions.models import NewAgentSession
from agentkeep.database.engine import Database
from agentkeep.decisions.models import OnboardingChange
from agentkeep.errors import InvalidInput, NotFound
from agentkeep.keep import Keep
from agentkeep.principal import Principal
from audit_support import superuser


async def _kai_session(keep: Keep, user_id: uuid.UUID) -> uuid.UUID:
    return (await keep.agent_sessions.create(user_id, NewAgentSession(agent_type="kai"))).id


async def test_answers_are_kept_and_the_legal_acknowledgement_is_dated_and_recorded(
    keep: Keep, make_user
) -> None:
    user = await make_user()
    session = await _kai_session(keep, user.user_id)
    with pytest.raises(NotFound):
        await keep.onboarding.get(user.user_id, session)
    first = await keep.onboarding.set(
        Principal.user(user.user_id), session, OnboardingChange(processing_mode="on_device")
    )
    assert (first.processing_mode, first.risk_profile, first.is_legal_acknowledged) == (
        "on_device",
        None,
        False,
    )
    assert (first.legal_acknowledged_at, first.legal_acknowledged_by, first.version) == (None, None, 1)

    acknowledged = await keep.onboarding.set(
        Principal.user(user.user_id), session, OnboardingChange(is_legal_acknowledged=True, version=1)
    )
    assert acknowledged.is_legal_acknowledged is True
    assert acknowledged.legal_acknowledged_by == "user"
    assert acknowledged.legal_acknowledged_at is not None
    # Acknowledging again keeps the first date and who gave it.
    again = await keep.onboarding.set(user.user_id, session, OnboardingChange(is_legal_acknowledged=True))
    assert (again.legal_acknowledged_at, again.legal_acknowledged_by) == (
        acknowledged.legal_acknowledged_at,
        "user",
    )
    done = await keep.onboarding.set(
        user.user_id, session, OnboardingChange(risk_profile="aggressive", is_onboarding_complete=True)
    )
    assert (done.processing_mode, done.risk_profile, done.is_onboarding_complete) == (
        "on_device",
        "aggressive",
        True,
    )
    assert await keep.onboarding.get(user.user_id, session) == done
    withdrawn = await keep.onboarding.set(
        user.user_id, session, OnboardingChange(is_legal_acknowledged=False, is_onboarding_complete=False)
    )
    assert (
        withdrawn.is_legal_acknowledged,
        withdrawn.legal_acknowledged_at,
        withdrawn.legal_acknowledged_by,
    ) == (
        False,
        None,
        None,
    )


async def test_the_acknowledgement_is_in_the_audit_trail(keep: Keep, make_user, database: Database) -> None:
    user = await make_user()
    session = await _kai_session(keep, user.user_id)
    await keep.onboarding.set(
        Principal.user(user.user_id), session, OnboardingChange(is_legal_acknowledged=True)
    )
    async with superuser(database) as conn:
        entry = await conn.fetchrow(
            "SELECT operation, actor, new_values ->> 'is_legal_acknowledged' AS acknowledged,"
            " new_values ->> 'legal_acknowledged_by' AS recorded_by,"
            " new_values ->> 'legal_acknowledged_at' IS NOT NULL AS dated"
            " FROM audit_log WHERE user_id = $1 AND table_name = 'onboarding_answers'"
            " ORDER BY seq DESC LIMIT 1",
            user.user_id,
        )
    assert dict(entry) == {
        "operation": "INSERT",
        "actor": "user",
        "acknowledged": "true",
        "recorded_by": "user",
        "dated": True,
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"processing_mode": "cloud"}, "processing_mode"),
        ({"risk_profile": "yolo"}, "risk_profile"),
        ({"is_onboarding_complete": True}, "is_onboarding_complete"),
    ],
)
async def test_invalid_answers_are_refused_by_the_database_naming_the_field(
    keep: Keep, make_user, change: dict[str, object], field: str
) -> None:
    user = await make_user()
    session = await _kai_session(keep, user.user_id)
    with pytest.raises(InvalidInput) as refused:
        await keep.onboarding.set(user.user_id, session, OnboardingChange.model_validate(change))
    assert refused.value.field == field
    with pytest.raises(NotFound):  # nothing was stored
        await keep.onboarding.get(user.user_id, session)


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        (
            "INSERT INTO onboarding_answers (user_id, agent_session_id, processing_mode)"
            " VALUES ($1, $2, 'cloud')",
            "onboarding_answers.processing_mode: 'cloud' is not a term of the vocabulary processing_mode",
        ),
        (
            "INSERT INTO onboarding_answers (user_id, agent_session_id, is_legal_acknowledged)"
            " VALUES ($1, $2, true)",
            "ck_onboarding_answers_is_legal_acknowledged_recorded",
        ),
    ],
)
async def test_raw_sql_is_refused_too(as_app, keep: Keep, make_user, statement: str, refusal: str) -> None:
    user = await make_user()
    session = await _kai_session(keep, user.user_id)
    async with as_app(Principal.user(user.user_id)) as conn:
        with pytest.raises(asyncpg.CheckViolationError, match=refusal):
            await conn.execute(statement, user.user_id, session)


def test_an_explicit_null_for_a_flag_is_refused_by_the_model() -> None:
    with pytest.raises(ValidationError, match="is_legal_acknowledged"):
        OnboardingChange.model_validate({"is_legal_acknowledged": None})


async def test_answers_of_another_users_session_are_out_of_reach(keep: Keep, make_user) -> None:
    alice, bob = await make_user(), await make_user()
    hers = await _kai_session(keep, alice.user_id)
    await keep.onboarding.set(alice.user_id, hers, OnboardingChange(processing_mode="hybrid"))
    with pytest.raises(NotFound):
        await keep.onboarding.get(bob.user_id, hers)
    # Bob has no such session: the composite key refuses the row.
    with pytest.raises(NotFound) as refused:
        await keep.onboarding.set(bob.user_id, hers, OnboardingChange(processing_mode="on_device"))
    assert refused.value.field == "agent_session_id"
    assert (await keep.onboarding.get(alice.user_id, hers)).processing_mode == "hybrid"


# --- 002: context maintenance across sessions ------------------------------------------------------


async def test_a_session_starts_from_the_context_of_a_named_earlier_one(keep: Keep, make_user) -> None:
    user = await make_user()
    earlier = await keep.agent_sessions.create(
        user.user_id, NewAgentSession(agent_type="developer", context={"repo": "agentkeep", "branch": "main"})
    )
    later = await keep.agent_sessions.create(
        user.user_id,
        NewAgentSession(agent_type="qa", context={"branch": "i9"}, carry_context_from=earlier.id),
    )
    assert later.context == {"repo": "agentkeep", "branch": "i9"}
    assert (await keep.agent_sessions.get(user.user_id, earlier.id)).context == {
        "repo": "agentkeep",
        "branch": "main",
    }


async def test_carrying_from_a_session_the_user_does_not_have_is_refused(keep: Keep, make_user) -> None:
    alice, bob = await make_user(), await make_user()
    hers = await keep.agent_sessions.create(
        alice.user_id, NewAgentSession(agent_type="developer", context={"secret": "alice's"})
    )
    with pytest.raises(NotFound) as refused:
        await keep.agent_sessions.create(
            bob.user_id, NewAgentSession(agent_type="developer", carry_context_from=hers.id)
        )
    assert refused.value.field == "carry_context_from"
    assert (await keep.agent_sessions.list(bob.user_id)).items == []
    with pytest.raises(InvalidInput) as both:
        await keep.agent_sessions.create(
            alice.user_id,
            NewAgentSession(agent_type="developer", carry_context=True, carry_context_from=hers.id),
        )
    assert both.value.field == "carry_context_from"


async def test_the_legal_acknowledgement_and_its_withdrawal_are_in_the_consent_log(
    keep: Keep, make_user
) -> None:
    """Seed 000's consent audit: the acknowledgement is a consent (scope legal), logged once."""
    user = await make_user()
    session = await _kai_session(keep, user.user_id)
    await keep.onboarding.set(user.user_id, session, OnboardingChange(is_legal_acknowledged=True))
    await keep.onboarding.set(user.user_id, session, OnboardingChange(is_legal_acknowledged=True))
    await keep.onboarding.set(user.user_id, session, OnboardingChange(is_legal_acknowledged=False))
    logged = (await keep.consent.logs(user.user_id, scope="legal")).items
    assert [(entry.action, entry.previous_value, entry.new_value) for entry in reversed(logged)] == [
        ("approved", None, "acknowledged"),
        ("denied", "acknowledged", "withdrawn"),
    ]
    assert all(entry.metadata == {"agent_session_id": str(session)} for entry in logged)

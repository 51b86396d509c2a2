"""Agent activities that wait for consent, and ethical validations (seed 004 2.6, 2.9).

The default profile's rules (consent.activities): observation passive/L0, analysis and
suggestion suggestive/L1, intervention autonomous/L3.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import asyncpg
import pytest

from agentkeep.activities.models import ConsentDecision, NewActivity, NewEthicalValidation, Outcome
from agentkeep.activities.status import TRANSITIONS
from agentkeep.activities.tables import ACTIVITY_STATUSES
from agentkeep.agent_sessions.models import AgentSessionUpdate, NewAgentSession
from agentkeep.consent.models import TierChange
from agentkeep.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from agentkeep.ids import new_id
from agentkeep.keep import Keep
from agentkeep.principal import Principal


async def _session(keep: Keep, user_id: Any, trust_level: int) -> Any:
    session = await keep.agent_sessions.create(user_id, NewAgentSession(agent_type="assistant"))
    if trust_level:
        session = await keep.agent_sessions.update(
            user_id, session.id, AgentSessionUpdate(version=session.version, trust_level=trust_level)
        )
    return session


def _new(activity_type: str = "analysis", **fields: Any) -> NewActivity:
    return NewActivity(agent_name="FELLO", activity_type=activity_type, title="look at the week", **fields)


async def test_an_activity_proceeds_without_asking_only_when_tier_and_trust_reach(
    keep: Keep, make_user: Any
) -> None:
    user = await make_user()
    trusted = await _session(keep, user.user_id, 1)
    # Observation: passive / L0 — the default tier is enough.
    observed = await keep.activities.propose(user.user_id, _new("observation"))
    assert (observed.status, observed.is_consent_required) == ("approved", False)
    # Analysis needs suggestive and L1: passive tier -> it asks.
    asked = await keep.activities.propose(user.user_id, _new(agent_session_id=trusted.id))
    assert (asked.status, asked.is_consent_required) == ("pending_consent", True)
    assert (asked.consent_tier_required, asked.trust_level_required) == ("suggestive", 1)
    await keep.consent.set_tier(user.user_id, "global", TierChange(tier_level="suggestive"))
    # Tier reached, but no session (trust 0) -> it asks.
    assert (await keep.activities.propose(user.user_id, _new())).status == "pending_consent"
    # Tier and trust reached -> approved at once, and logged as an automatic approval.
    proceeded = await keep.activities.propose(user.user_id, _new(agent_session_id=trusted.id))
    assert proceeded.status == "approved"
    logs = (await keep.consent.logs(user.user_id, activity_id=proceeded.id)).items
    assert [(log.action, log.previous_value, log.new_value, log.metadata["automatic"]) for log in logs] == [
        ("approved", "proposed", "approved", True)
    ]
    # A caller may ask for more than the profile requires, never for less.
    stricter = await keep.activities.propose(
        user.user_id, _new(agent_session_id=trusted.id, consent_tier_required="autonomous")
    )
    assert stricter.status == "pending_consent"


async def test_raw_sql_cannot_approve_without_asking_past_the_gates(as_app: Any, make_user: Any) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        activity_id = new_id()
        await conn.execute(
            "INSERT INTO agent_activities (user_id, id, agent_name, activity_type, scope, title,"
            " consent_tier_required, trust_level_required)"
            " VALUES ($1, $2, 'FELLO', 'intervention', 'global', 'move a meeting', 'passive', 0)",
            user.user_id,
            activity_id,
        )
        # The profile's requirement wins over a lower one given.
        required = await conn.fetchrow(
            "SELECT consent_tier_required, trust_level_required FROM agent_activities WHERE id = $1",
            activity_id,
        )
        assert tuple(required) == ("autonomous", 3)
        with pytest.raises(asyncpg.CheckViolationError, match="agent_activities_consent_tier") as refused:
            async with conn.transaction():
                await conn.execute(
                    "UPDATE agent_activities SET status = 'approved' WHERE id = $1", activity_id
                )
        assert "consent tier for scope global is passive, intervention needs autonomous" in str(refused.value)
        await conn.execute("UPDATE consent_tiers SET tier_level = 'autonomous' WHERE scope = 'global'")
        with pytest.raises(asyncpg.CheckViolationError, match="agent_activities_trust_level"):
            async with conn.transaction():
                await conn.execute(
                    "UPDATE agent_activities SET status = 'approved' WHERE id = $1", activity_id
                )
        with pytest.raises(asyncpg.CheckViolationError, match="agent_activities_terms_fixed"):
            async with conn.transaction():
                await conn.execute(
                    "UPDATE agent_activities SET trust_level_required = 0 WHERE id = $1", activity_id
                )
        with pytest.raises(asyncpg.CheckViolationError, match="must start as proposed"):
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO agent_activities (user_id, id, agent_name, activity_type, scope, title,"
                    " status, consent_tier_required, trust_level_required)"
                    " VALUES ($1, $2, 'FELLO', 'observation', 'global', 't', 'executed', 'passive', 0)",
                    user.user_id,
                    new_id(),
                )


async def test_the_database_and_the_sdk_agree_on_every_transition(as_app: Any, make_user: Any) -> None:
    """Illegal transitions are refused by raw SQL as the application role, naming the rule."""
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        await conn.execute("UPDATE consent_tiers SET tier_level = 'autonomous' WHERE scope = 'global'")
        for source, target in itertools.product(ACTIVITY_STATUSES, repeat=2):
            if source == target or source == "proposed":
                continue
            activity_id = new_id()
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO agent_activities (user_id, id, agent_name, activity_type, scope, title,"
                    " consent_tier_required, trust_level_required)"
                    " VALUES ($1, $2, 'FELLO', 'observation', 'global', 't', 'passive', 0)",
                    user.user_id,
                    activity_id,
                )
                path = {"pending_consent": ["pending_consent"], "approved": ["approved"]}.get(
                    source,
                    ["approved", source] if source in ("executed", "failed") else ["pending_consent", source],
                )
                for step in path:
                    await conn.execute(
                        "UPDATE agent_activities SET status = $1 WHERE id = $2", step, activity_id
                    )
            refusal = ""
            try:
                async with conn.transaction():
                    await conn.execute(
                        "UPDATE agent_activities SET status = $1 WHERE id = $2", target, activity_id
                    )
            except asyncpg.CheckViolationError as error:
                refusal = str(error)
            assert (refusal == "") == (target in TRANSITIONS[source]), (source, target)
            if refusal:
                assert f"cannot go from {source} to {target}" in refusal
                assert "agent_activities_status_transition" in refusal


async def test_the_sdk_and_the_api_refuse_illegal_transitions(
    keep: Keep, make_user: Any, client: Any
) -> None:
    user = await make_user()
    waiting = await keep.activities.propose(user.user_id, _new())
    with pytest.raises(InvalidTransition) as refused:
        await keep.activities.execute(user.user_id, waiting.id)
    assert refused.value.field == "status" and "from pending_consent to executed" in refused.value.detail
    rejected = await keep.activities.reject(user.user_id, waiting.id, ConsentDecision(reason="not now"))
    assert rejected.status == "rejected"
    with pytest.raises(InvalidTransition):
        await keep.activities.approve(user.user_id, waiting.id)
    with pytest.raises(NotFound):
        await keep.activities.approve(user.user_id, new_id())
    logs = (await keep.consent.logs(user.user_id, activity_id=waiting.id)).items
    assert [(log.action, log.previous_value, log.new_value, log.reason) for log in logs] == [
        ("denied", "pending_consent", "rejected", "not now")
    ]


async def test_deferral_keeps_it_waiting_and_is_logged(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    waiting = await keep.activities.propose(user.user_id, _new("suggestion"))
    deferred = await keep.activities.defer(user.user_id, waiting.id, ConsentDecision(reason="ask me tonight"))
    assert deferred.status == "pending_consent"
    approved = await keep.activities.approve(user.user_id, waiting.id)
    logs = (await keep.consent.logs(user.user_id, activity_id=waiting.id)).items
    assert [(log.action, log.reason) for log in reversed(logs)] == [
        ("deferred", "ask me tonight"),
        ("approved", None),
    ]
    with pytest.raises(InvalidTransition):
        await keep.activities.defer(user.user_id, approved.id)


async def test_two_approvals_racing_leave_one_outcome_and_one_log_entry(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    for decisions in (("approve", "approve"), ("approve", "reject")):
        waiting = await keep.activities.propose(user.user_id, _new())
        results = await asyncio.gather(
            *(getattr(keep.activities, name)(user.user_id, waiting.id) for name in decisions),
            return_exceptions=True,
        )
        won = [result for result in results if not isinstance(result, BaseException)]
        lost = [result for result in results if isinstance(result, BaseException)]
        assert len(won) == 1 and len(lost) == 1, results
        assert isinstance(lost[0], InvalidTransition) and lost[0].field == "status"
        final = await keep.activities.get(user.user_id, waiting.id)
        assert final.status == won[0].status
        logs = (await keep.consent.logs(user.user_id, activity_id=waiting.id)).items
        assert len(logs) == 1
        assert logs[0].action == ("approved" if final.status == "approved" else "denied")


async def test_a_blocked_activity_cannot_execute_until_overridden(
    keep: Keep, make_user: Any, as_app: Any
) -> None:
    user = await make_user()
    activity = await keep.activities.propose(user.user_id, _new("observation"))
    assert activity.status == "approved"
    validation = await keep.activities.validate(
        user.user_id,
        NewEthicalValidation(
            result="blocked",
            agent_activity_id=activity.id,
            rules_applied=["harm_potential"],
            concerns=["could embarrass the user"],
            is_override_allowed=True,
        ),
    )
    assert validation.validator == "Othello"
    with pytest.raises(InvalidTransition) as refused:
        await keep.activities.execute(user.user_id, activity.id)
    assert "blocked by an ethical validation" in refused.value.detail
    async with as_app(Principal.user(user.user_id)) as conn:
        with pytest.raises(asyncpg.CheckViolationError, match="agent_activities_ethics_block"):
            await conn.execute("UPDATE agent_activities SET status = 'executed' WHERE id = $1", activity.id)
    await keep.activities.override(user.user_id, validation.id)
    done = await keep.activities.execute(user.user_id, activity.id, Outcome(result={"ok": True}))
    assert done.status == "executed" and done.executed_at is not None and done.result == {"ok": True}


async def test_a_validation_without_override_allowance_cannot_be_overridden(
    keep: Keep, make_user: Any
) -> None:
    user = await make_user()
    activity = await keep.activities.propose(user.user_id, _new("observation"))
    validation = await keep.activities.validate(
        user.user_id, NewEthicalValidation(result="blocked", agent_activity_id=activity.id)
    )
    with pytest.raises(Conflict):
        await keep.activities.override(user.user_id, validation.id)
    with pytest.raises(InvalidTransition):
        await keep.activities.execute(user.user_id, activity.id)
    failed = await keep.activities.fail(user.user_id, activity.id, Outcome(result={"why": "blocked"}))
    assert failed.status == "failed"
    assert [v.id for v in await keep.activities.validations(user.user_id, activity_id=activity.id)] == [
        validation.id
    ]


async def test_bad_input_names_the_field(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    with pytest.raises(InvalidInput) as refused:
        await keep.activities.propose(user.user_id, _new("gossip"))
    assert refused.value.field == "activity_type"
    with pytest.raises(InvalidInput) as refused:
        await keep.activities.propose(user.user_id, _new(scope="gardening"))
    assert refused.value.field == "scope"
    other = await make_user()
    with pytest.raises(NotFound):
        await keep.activities.validate(
            other.user_id, NewEthicalValidation(result="passed", agent_activity_id=new_id())
        )
    assert (await keep.activities.list(user.user_id)).items == []


async def test_a_blocked_message_is_stored_but_left_out_of_the_latest_context(
    keep: Keep, make_user: Any, client: Any
) -> None:
    from agentkeep.messages.models import NewMessage

    user = await make_user()
    chat = await keep.conversations.create(user.user_id)
    sent = await keep.messages.append_many(
        user.user_id, chat.id, [NewMessage(role="assistant", content=f"m{i}") for i in range(4)]
    )
    # Marked by the writer itself (seed 004's ethical_validation shape) ...
    await keep.messages.append(
        user.user_id,
        chat.id,
        NewMessage(role="assistant", content="harsh", ethical_validation={"overall": "blocked"}),
    )
    # ... or by an ethical validation recorded on the message.
    validation = await keep.activities.validate(
        user.user_id,
        NewEthicalValidation(result="blocked", message_id=sent[2].id, is_override_allowed=True),
    )
    context = await keep.messages.latest(user.user_id, chat.id, 3)
    assert [m.content for m in context] == ["m0", "m1", "m3"]
    everything = await keep.messages.latest(user.user_id, chat.id, 10, include_blocked=True)
    assert [m.content for m in everything] == ["m0", "m1", "m2", "m3", "harsh"]
    assert everything[2].ethical_validation == {"overall": "blocked"}
    # The user's override brings it back.
    await keep.activities.override(user.user_id, validation.id)
    assert [m.content for m in await keep.messages.latest(user.user_id, chat.id, 10)] == [
        "m0",
        "m1",
        "m2",
        "m3",
    ]

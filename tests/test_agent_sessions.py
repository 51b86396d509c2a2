"""Agent sessions: the status machine (database and SDK agree), costs, trust, carried context."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from pydantic import ValidationError

from agentkeep.agent_sessions.models import CostCharge, NewAgentSession, StatusChange
from agentkeep.agent_sessions.status import TRANSITIONS
from agentkeep.agent_sessions.tables import AGENT_SESSION_STATUSES
from agentkeep.errors import Conflict, InvalidTransition, SessionExpired
from agentkeep.ids import new_id
from agentkeep.keep import Keep
from agentkeep.principal import Principal


async def test_the_database_and_the_sdk_agree_on_every_transition(make_user: Any, as_app: Any) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        for source, target in itertools.product(AGENT_SESSION_STATUSES, repeat=2):
            if source == target:
                continue
            session_id = new_id()
            await conn.execute(
                "INSERT INTO agent_sessions (user_id, id, agent_type, status) VALUES ($1, $2, 'qa', $3)",
                user.user_id,
                session_id,
                source,
            )
            refusal = ""
            try:
                async with conn.transaction():
                    await conn.execute(
                        "UPDATE agent_sessions SET status = $1 WHERE id = $2", target, session_id
                    )
            except asyncpg.CheckViolationError as refused:
                refusal = str(refused)
            allowed_by_database = not refusal
            if refusal:
                assert f"cannot go from {source} to {target}" in refusal
            assert allowed_by_database == (target in TRANSITIONS[source]), f"{source} -> {target}"


async def test_a_session_runs_through_its_lifecycle(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    session = await keep.agent_sessions.create(user.user_id, NewAgentSession(agent_type="developer"))
    assert (session.status, session.started_at, session.trust_level) == ("initializing", None, 0)
    with pytest.raises(InvalidTransition, match="from initializing to running"):
        await keep.agent_sessions.transition(user.user_id, session.id, StatusChange(status="running"))
    for status in ("pending_approval", "approved", "running", "paused", "running", "completed"):
        session = await keep.agent_sessions.transition(user.user_id, session.id, StatusChange(status=status))
    assert session.status == "completed"
    assert session.started_at is not None and session.completed_at is not None
    assert session.completed_at >= session.started_at
    with pytest.raises(InvalidTransition, match="it has ended"):
        await keep.agent_sessions.transition(user.user_id, session.id, StatusChange(status="running"))


async def test_an_expired_agent_session_cannot_start(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    session = await keep.agent_sessions.create(
        user.user_id, NewAgentSession(agent_type="developer", expires_at="2000-01-01T00:00:00Z")
    )
    await keep.agent_sessions.transition(user.user_id, session.id, StatusChange(status="cancelled"))
    other = await keep.agent_sessions.create(
        user.user_id, NewAgentSession(agent_type="developer", expires_at="2000-01-01T00:00:00Z")
    )
    with pytest.raises(SessionExpired):
        await keep.agent_sessions.transition(user.user_id, other.id, StatusChange(status="approved"))
    assert (await keep.agent_sessions.get(user.user_id, other.id)).status == "initializing"


async def test_costs_accumulate_and_the_limit_holds(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    session = await keep.agent_sessions.create(
        user.user_id, NewAgentSession(agent_type="developer", max_cost_limit=Decimal("1.00"))
    )
    session = await keep.agent_sessions.charge(user.user_id, session.id, CostCharge(amount=Decimal("0.6")))
    assert session.status == "initializing"
    # Passing the limit keeps the cost (it was spent) and blocks the session (revision 0012).
    over = await keep.agent_sessions.charge(user.user_id, session.id, CostCharge(amount=Decimal("0.5")))
    assert (over.status, over.token_cost) == ("blocked", Decimal("1.1000"))
    events = (await keep.governance.events(user.user_id, agent_session_id=session.id)).items
    assert [(e.event_type, e.approved) for e in events] == [("cost_validation", False)]
    with pytest.raises(Conflict, match="blocked: it takes no more charges"):
        await keep.agent_sessions.charge(user.user_id, session.id, CostCharge(amount=Decimal("0.1")))
    assert (await keep.agent_sessions.get(user.user_id, session.id)).token_cost == Decimal("1.1000")


@pytest.mark.parametrize(
    "fields",
    [{"trust_level": 7}, {"trust_level": -1}, {"estimated_cost": -1}, {"max_cost_limit": "-0.01"}],
)
def test_bad_agent_session_input_is_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as refused:
        NewAgentSession(agent_type="assistant", **fields)
    assert refused.value.errors()[0]["loc"][0] == next(iter(fields))


async def test_context_is_carried_across_sessions(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    await keep.agent_sessions.create(
        user.user_id, NewAgentSession(agent_type="assistant", context={"goal": "run 5k", "week": 1})
    )
    carried = await keep.agent_sessions.create(
        user.user_id, NewAgentSession(agent_type="assistant", context={"week": 2}, carry_context=True)
    )
    assert carried.context == {"goal": "run 5k", "week": 2}
    fresh = await keep.agent_sessions.create(user.user_id, NewAgentSession(agent_type="assistant"))
    assert fresh.context == {}

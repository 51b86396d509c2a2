"""The gates the database enforces on agent sessions (revision 0012, docs/governance.md).

Each gate is refused through the SDK, the REST API and raw SQL as the application role, and
allowed after the right event. The approval gate and the circuit breaker are the ``devassist``
profile's (seed 001); the cost gate holds under every profile.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from asyncpg.exceptions import CheckViolationError

from agentkeep.access_keys.models import NewKey
from agentkeep.agent_sessions.models import CostCharge, NewAgentSession, StatusChange
from agentkeep.errors import InvalidInput
from agentkeep.governance.models import Decision
from agentkeep.ids import new_id
from agentkeep.keep import Keep
from agentkeep.principal import Principal
from agentkeep.profiles.loader import load_profile
from audit_support import ON_CITUS
from governance_support import applied, approved_session, insert_event
from seed_helpers import refused

START = "UPDATE agent_sessions SET status = 'running' WHERE user_id = $1 AND id = $2"


async def _status(conn: Any, user_id: uuid.UUID, session_id: uuid.UUID) -> str:
    return str(
        await conn.fetchval(
            "SELECT status FROM agent_sessions WHERE user_id = $1 AND id = $2", user_id, session_id
        )
    )


async def test_start_without_approval_is_refused_in_sql_and_allowed_after_an_approved_event(
    keep: Keep, make_user: Any, as_app: Any
) -> None:
    """001's check_governance_approval, by update and by insert, as the application role."""
    user = await make_user()
    async with applied(keep, "devassist"):
        session = await approved_session(keep, user.user_id)
        async with as_app(Principal.user(user.user_id)) as conn:
            error = await refused(conn, CheckViolationError, START, user.user_id, session)
            assert "Agent cannot start without governance approval" in str(error)
            assert 'rule "governance_approval"' in str(error)
            # The rule is in the message (all Citus forwards) and, on one server, in the error's fields.
            assert 'constraint "gv_agent_sessions_governance_approval"' in str(error)
            if not ON_CITUS:
                assert (error.column_name, error.constraint_name) == (
                    "status",
                    "gv_agent_sessions_governance_approval",
                )
            # An insert straight into running cannot have an event yet: always refused.
            insert = await refused(
                conn,
                CheckViolationError,
                "INSERT INTO agent_sessions (user_id, id, agent_type, status)"
                " VALUES ($1, $2, 'qa', 'running')",
                user.user_id,
                new_id(),
            )
            assert "gv_agent_sessions_governance_approval" in str(insert)
            # A rejection, or an event of another type, does not approve.
            await insert_event(conn, user.user_id, session, "pre_agent_spawn", approved=False)
            await insert_event(conn, user.user_id, session, "cost_validation", approved=True)
            await refused(conn, CheckViolationError, START, user.user_id, session)
            await insert_event(conn, user.user_id, session, "consensus_check", approved=True)
            assert await conn.execute(START, user.user_id, session) == "UPDATE 1"
            assert await _status(conn, user.user_id, session) == "running"


async def test_the_latest_decision_counts_a_denial_after_an_approval_stops_a_resume(
    keep: Keep, make_user: Any, as_app: Any
) -> None:
    user = await make_user()
    async with applied(keep, "devassist"):
        session = await approved_session(keep, user.user_id)
        async with as_app(Principal.user(user.user_id)) as conn:
            await insert_event(conn, user.user_id, session, "pre_agent_spawn", approved=True)
            await conn.execute(START, user.user_id, session)
            await conn.execute(
                "UPDATE agent_sessions SET status = 'paused' WHERE user_id = $1 AND id = $2",
                user.user_id,
                session,
            )
            await insert_event(conn, user.user_id, session, "pre_agent_spawn", approved=False)
            error = await refused(conn, CheckViolationError, START, user.user_id, session)
            assert "gv_agent_sessions_governance_approval" in str(error)


async def test_start_without_approval_is_refused_through_the_sdk_naming_rule_and_field(
    keep: Keep, make_user: Any
) -> None:
    user = await make_user()
    async with applied(keep, "devassist"):
        session = await keep.agent_sessions.create(user.user_id, NewAgentSession(agent_type="qa"))
        await keep.agent_sessions.transition(
            user.user_id, session.id, StatusChange(status="pending_approval")
        )
        assert [s.id for s in (await keep.governance.pending(user.user_id)).items] == [session.id]
        # The session's status alone cannot stand in for the approval event.
        await keep.agent_sessions.transition(user.user_id, session.id, StatusChange(status="approved"))
        with pytest.raises(InvalidInput, match="governance_approval") as caught:
            await keep.agent_sessions.transition(user.user_id, session.id, StatusChange(status="running"))
        assert caught.value.field == "status"
        event = await keep.governance.approve(
            user.user_id,
            session.id,
            Decision(framework_type="sarah_three_questions", reason="three questions"),
        )
        assert (event.event_type, event.approved, event.framework_type) == (
            "pre_agent_spawn",
            True,
            "sarah_three_questions",
        )
        running = await keep.agent_sessions.transition(
            user.user_id, session.id, StatusChange(status="running")
        )
        assert running.status == "running" and running.started_at is not None


async def test_approval_moves_a_waiting_session_and_a_denial_blocks_it(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    async with applied(keep, "devassist"):
        first = await keep.agent_sessions.create(user.user_id, NewAgentSession(agent_type="qa"))
        second = await keep.agent_sessions.create(user.user_id, NewAgentSession(agent_type="qa"))
        for session in (first, second):
            await keep.agent_sessions.transition(
                user.user_id, session.id, StatusChange(status="pending_approval")
            )
        await keep.governance.approve(user.user_id, first.id, Decision())
        denied = await keep.governance.deny(user.user_id, second.id, Decision(reason="fails the 3am test"))
        assert denied.approved is False and denied.decision_reason == "fails the 3am test"
        assert (await keep.agent_sessions.get(user.user_id, first.id)).status == "approved"
        assert (await keep.agent_sessions.get(user.user_id, second.id)).status == "blocked"
        assert (await keep.governance.pending(user.user_id)).items == []
        running = await keep.agent_sessions.transition(user.user_id, first.id, StatusChange(status="running"))
        assert running.status == "running"


async def test_start_without_approval_is_refused_over_http(
    keep: Keep, make_user: Any, client: httpx.AsyncClient
) -> None:
    user = await make_user()
    headers = {
        "Authorization": f"Bearer {(await keep.access_keys.create(user.user_id, NewKey(name='t'))).secret}"
    }
    async with applied(keep, "devassist"):
        session = await approved_session(keep, user.user_id)
        url = f"/api/agent-sessions/{session}/status"
        refused_start = await client.post(url, json={"status": "running"}, headers=headers)
        assert refused_start.status_code == 422, refused_start.text
        body = refused_start.json()
        assert [error["field"] for error in body["errors"]] == ["status"]
        assert "governance_approval" in body["detail"]
        approval = await client.post(
            f"/api/governance/approvals/{session}/approve", json={"reason": "ok"}, headers=headers
        )
        assert approval.status_code == 201, approval.text
        started = await client.post(url, json={"status": "running"}, headers=headers)
        assert started.status_code == 200 and started.json()["status"] == "running"


async def test_without_the_profile_rule_a_session_starts_on_its_status_alone(
    keep: Keep, make_user: Any
) -> None:
    """The default profile does not require the event (only seed 001 does)."""
    user = await make_user()
    session = await approved_session(keep, user.user_id)
    running = await keep.agent_sessions.transition(user.user_id, session, StatusChange(status="running"))
    assert running.status == "running"


async def test_cost_gate_blocks_through_sdk_api_and_sql(
    keep: Keep, make_user: Any, as_app: Any, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    user = await make_user()
    # SDK: the charge that passes the limit is kept, and the session is blocked.
    session = await keep.agent_sessions.create(
        user.user_id, NewAgentSession(agent_type="qa", max_cost_limit=Decimal("2"))
    )
    await keep.agent_sessions.transition(user.user_id, session.id, StatusChange(status="approved"))
    await keep.agent_sessions.transition(user.user_id, session.id, StatusChange(status="running"))
    blocked = await keep.agent_sessions.charge(user.user_id, session.id, CostCharge(amount=Decimal("2.5")))
    assert (blocked.status, blocked.token_cost, blocked.completed_at is not None) == (
        "blocked",
        Decimal("2.5"),
        True,
    )
    [event] = (await keep.governance.events(user.user_id, agent_session_id=session.id)).items
    assert (event.event_type, event.approved, event.framework_type, event.created_by) == (
        "cost_validation",
        False,
        "emergency",
        "agentkeep",
    )
    assert event.decision_details == {
        "token_cost": 2.5,
        "cost_limit": 2,
        "limit_from": "session",
        "status_before": "running",
    }
    # HTTP: lowering the limit under the cost spent blocks too.
    headers = {
        "Authorization": f"Bearer {(await keep.access_keys.create(user.user_id, NewKey(name='t'))).secret}"
    }
    other = await keep.agent_sessions.create(user.user_id, NewAgentSession(agent_type="qa"))
    await keep.agent_sessions.charge(user.user_id, other.id, CostCharge(amount=Decimal("1")))
    lowered = await client.patch(
        f"/api/agent-sessions/{other.id}", json={"version": 2, "max_cost_limit": "0.5"}, headers=headers
    )
    assert lowered.status_code == 200, lowered.text
    assert lowered.json()["status"] == "blocked"
    # SQL as the application role: a session without its own limit takes the profile's.
    limited = tmp_path / "limited.toml"
    limited.write_text(
        'schema_version = 1\nname = "limited"\nversion = "1.0.0"\ntitle = "t"\ndescription = "t"\n'
        'extends = "devassist"\n[governance]\ndefault_max_cost_limit = "0.75"\n'
        '[provenance]\n"governance.default_max_cost_limit" = "silent: a test"\n'
    )
    await keep.profile.apply(load_profile(str(limited)))
    try:
        async with as_app(Principal.user(user.user_id)) as conn:
            third = await keep_session_row(conn, user.user_id)
            await conn.execute(
                "UPDATE agent_sessions SET token_cost = 0.8 WHERE user_id = $1 AND id = $2",
                user.user_id,
                third,
            )
            assert await _status(conn, user.user_id, third) == "blocked"
            source = await conn.fetchval(
                "SELECT decision_details ->> 'limit_from' FROM governance_events WHERE user_id = $1"
                " AND agent_session_id = $2",
                user.user_id,
                third,
            )
            assert source == "profile"
    finally:
        await keep.profile.apply(load_profile("default"))


async def keep_session_row(conn: Any, user_id: uuid.UUID) -> uuid.UUID:
    session = new_id()
    await conn.execute(
        "INSERT INTO agent_sessions (user_id, id, agent_type) VALUES ($1, $2, 'qa')", user_id, session
    )
    return session


async def test_circuit_breaker_trips_after_the_profiles_failures_and_an_approval_lets_one_through(
    keep: Keep, make_user: Any, as_app: Any
) -> None:
    """devassist: 3 failed sessions of one agent type within the hour open the breaker."""
    user = await make_user()
    async with applied(keep, "devassist"):
        for _ in range(3):
            failing = await keep.agent_sessions.create(user.user_id, NewAgentSession(agent_type="qa"))
            await keep.agent_sessions.transition(user.user_id, failing.id, StatusChange(status="failed"))
        events = (await keep.governance.events(user.user_id)).items
        assert [(e.event_type, e.approved) for e in events] == [("circuit_breaker", False)]
        assert events[0].decision_details["failures"] == 3
        # Another agent type is not affected; this one is, by every way in.
        other = await approved_session(keep, user.user_id, agent_type="developer")
        await keep.governance.approve(user.user_id, other, Decision())
        await keep.agent_sessions.transition(user.user_id, other, StatusChange(status="running"))
        session = await approved_session(keep, user.user_id, agent_type="qa")
        await keep.governance.approve(user.user_id, session, Decision())
        with pytest.raises(InvalidInput, match="circuit_breaker") as caught:
            await keep.agent_sessions.transition(user.user_id, session, StatusChange(status="running"))
        assert caught.value.field == "status"
        async with as_app(Principal.user(user.user_id)) as conn:
            error = await refused(conn, CheckViolationError, START, user.user_id, session)
            assert "gv_agent_sessions_circuit_breaker" in str(error)
            await insert_event(conn, user.user_id, session, "circuit_breaker", approved=True)
            assert await conn.execute(START, user.user_id, session) == "UPDATE 1"

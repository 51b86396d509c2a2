"""governance_events (seed 001): the table, its compatibility views, tenancy, emergency stop.

docs/seed-mapping.md names these tests; docs/governance.md describes what they show.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from asyncpg.exceptions import (
    CheckViolationError,
    ForeignKeyViolationError,
    InsufficientPrivilegeError,
)

from agentkeep.agent_sessions.models import NewAgentSession, StatusChange
from agentkeep.agents.models import NewAgent
from agentkeep.errors import AgentkeepError, Forbidden, InvalidInput
from agentkeep.governance.models import Decision, EmergencyStop, NewGovernanceEvent
from agentkeep.ids import new_id
from agentkeep.keep import Keep
from agentkeep.partitions import ensure_partitions
from agentkeep.principal import Principal
from governance_support import approved_session, insert_event
from seed_helpers import refused

SEED_ACTIVE_AGENT_SESSIONS = "SELECT * FROM active_agent_sessions ORDER BY agent_session_id"


async def test_events_are_recorded_read_back_and_never_changed(
    keep: Keep, make_user: Any, as_app: Any
) -> None:
    user = await make_user()
    session = await approved_session(keep, user.user_id)
    event = await keep.governance.record(
        user.user_id,
        NewGovernanceEvent(
            agent_session_id=session,
            event_type="pre_persona_activation",
            framework_type="alex_3am_test",
            approved=True,
            validation_context={"question": 3},
            decision_details={"score": 0.9},
            decision_reason="passes",
            fallback_triggered=True,
            created_by="reviewer",
        ),
    )
    [read] = (await keep.governance.events(user.user_id, agent_session_id=session)).items
    assert read == event
    assert (read.fallback_triggered, read.validation_context, read.created_by) == (
        True,
        {"question": 3},
        "reviewer",
    )
    async with as_app(Principal.user(user.user_id)) as conn:
        for statement in ("UPDATE governance_events SET approved = false", "DELETE FROM governance_events"):
            await refused(conn, InsufficientPrivilegeError, statement)
        # 001's checks: the eight event types; the framework is a term of the profile.
        error = await refused(
            conn,
            CheckViolationError,
            "INSERT INTO governance_events"
            " (user_id, id, agent_session_id, event_type, framework_type, approved)"
            " VALUES ($1, $2, $3, 'coffee_break', 'consensus', true)",
            user.user_id,
            new_id(),
            session,
        )
        assert "ck_governance_events_type_valid" in str(error)
        with pytest.raises(CheckViolationError, match="vk_governance_events_framework_type"):
            await insert_event(
                conn, user.user_id, session, "consensus_check", approved=True, framework="vibes"
            )


async def test_bad_input_names_the_field(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    session = await approved_session(keep, user.user_id)
    with pytest.raises(InvalidInput) as caught:
        await keep.governance.record(
            user.user_id,
            NewGovernanceEvent(
                agent_session_id=session, event_type="consensus_check", framework_type="x", approved=True
            ),
        )
    assert caught.value.field == "framework_type"
    with pytest.raises(AgentkeepError) as missing:
        await keep.governance.approve(user.user_id, user.user_id, Decision())
    assert missing.value.field == "agent_session_id"


async def test_each_user_sees_and_writes_only_their_own_events(
    keep: Keep, make_user: Any, as_app: Any
) -> None:
    alice, bob = await make_user(), await make_user()
    session = await approved_session(keep, alice.user_id)
    await keep.governance.approve(alice.user_id, session, Decision())
    assert (await keep.governance.events(bob.user_id)).items == []
    with pytest.raises(AgentkeepError):
        await keep.governance.approve(bob.user_id, session, Decision())
    async with as_app(Principal.user(bob.user_id)) as conn:
        assert await conn.fetchval("SELECT count(*) FROM governance_events") == 0
        assert await conn.fetchval("SELECT count(*) FROM devassist.governance_events") == 0
        # Bob's own user id with Alice's session: the composite key finds no such session of his.
        await refused(
            conn,
            ForeignKeyViolationError,
            "INSERT INTO governance_events (user_id, id, agent_session_id,"
            " event_type, framework_type, approved) VALUES ($1, $2, $3, 'consensus_check',"
            " 'consensus', true)",
            bob.user_id,
            new_id(),
            session,
        )
    async with as_app(Principal.user(alice.user_id)) as conn:
        assert await conn.fetchval("SELECT count(*) FROM devassist.governance_events") == 1


async def test_seed_001_views_by_the_seeds_names(keep: Keep, make_user: Any, as_app: Any) -> None:
    """devassist.governance_events and 001's active_agent_sessions, the seed's own text."""
    user, other = await make_user(), await make_user()
    session = await approved_session(keep, user.user_id)
    await approved_session(keep, other.user_id)
    await keep.governance.approve(user.user_id, session, Decision())
    async with as_app(Principal.user(user.user_id)) as conn:
        await insert_event(conn, user.user_id, session, "consensus_check", approved=False)
        row = await conn.fetchrow(
            "SELECT event_id, agent_session_id, event_type, framework_type, approved, validation_context,"
            " decision_details, decision_reason, fallback_triggered, created_at, created_by, correlation_id"
            " FROM devassist.governance_events WHERE approved ORDER BY event_id"
        )
        assert (row["agent_session_id"], row["event_type"]) == (session, "pre_agent_spawn")
        await conn.execute("SET LOCAL search_path = devassist")
        seed = await conn.fetch(SEED_ACTIVE_AGENT_SESSIONS)
        await conn.execute("SET LOCAL search_path = public")
        public = await conn.fetch(SEED_ACTIVE_AGENT_SESSIONS)
    assert [(r["agent_session_id"], r["status"], r["approvals"], r["rejections"]) for r in seed] == [
        (session, "approved", 1, 1)
    ]
    assert [tuple(r) for r in public] == [tuple(r) for r in seed]


async def test_operator_reads_every_users_active_sessions_and_each_read_is_audited(
    keep: Keep, make_user: Any, owner: Any
) -> None:
    user = await make_user()
    session = await approved_session(keep, user.user_id)
    await keep.governance.deny(user.user_id, session, Decision())
    async with keep.database.transaction(Principal.operator()) as tx:
        rows = (
            await tx.conn.exec_driver_sql("SELECT * FROM operator_active_agent_sessions(NULL, 1000)")
        ).all()
    mine = [row for row in rows if row.user_id == user.user_id]
    assert [(row.agent_session_id, row.approvals, row.rejections) for row in mine] == [(session, 0, 1)]
    audited = await owner.fetchval(
        "SELECT count(*) FROM audit_log WHERE user_id = $1 AND action_type = 'OPERATOR_READ'"
        " AND new_values ->> 'what' = 'active_agent_sessions'",
        user.user_id,
    )
    assert audited == 1


async def test_emergency_stop_blocks_every_live_session_in_one_transaction(
    keep: Keep, make_user: Any
) -> None:
    user, bystander = await make_user(), await make_user()
    running = await approved_session(keep, user.user_id)
    await keep.agent_sessions.transition(user.user_id, running, StatusChange(status="running"))
    waiting = (await keep.agent_sessions.create(user.user_id, NewAgentSession(agent_type="qa"))).id
    done = await approved_session(keep, user.user_id)
    await keep.agent_sessions.transition(user.user_id, done, StatusChange(status="cancelled"))
    untouched = await approved_session(keep, bystander.user_id)
    result = await keep.governance.emergency_stop(user.user_id, EmergencyStop(reason="runaway agent"))
    assert {(s.agent_session_id, s.status_before) for s in result.stopped} == {
        (running, "running"),
        (waiting, "initializing"),
    }
    for session in (running, waiting):
        assert (await keep.agent_sessions.get(user.user_id, session)).status == "blocked"
    assert (await keep.agent_sessions.get(user.user_id, done)).status == "cancelled"
    assert (await keep.agent_sessions.get(bystander.user_id, untouched)).status == "approved"
    events = (await keep.governance.events(user.user_id)).items
    assert (
        sorted((e.event_type, e.approved, e.decision_reason) for e in events)
        == [("emergency_stop", False, "runaway agent")] * 2
    )
    with pytest.raises(AgentkeepError):
        await keep.agent_sessions.transition(user.user_id, running, StatusChange(status="running"))


@pytest.mark.parametrize("round_", range(8))
async def test_an_emergency_stop_racing_a_start_leaves_no_session_running(
    keep: Keep, make_user: Any, round_: int
) -> None:
    user = await make_user()
    sessions = [await approved_session(keep, user.user_id) for _ in range(3)]

    async def start(session: Any) -> None:
        await keep.agent_sessions.transition(user.user_id, session, StatusChange(status="running"))

    outcomes = await asyncio.gather(
        *[start(s) for s in sessions[: round_ % 3 + 1]],
        keep.governance.emergency_stop(user.user_id, EmergencyStop(reason="race")),
        return_exceptions=True,
    )
    assert all(not isinstance(o, BaseException) or isinstance(o, AgentkeepError) for o in outcomes), outcomes
    statuses = [(await keep.agent_sessions.get(user.user_id, s)).status for s in sessions]
    assert statuses == ["blocked"] * 3
    stopped = (await keep.governance.events(user.user_id)).items
    assert len(stopped) == 3 and {e.event_type for e in stopped} == {"emergency_stop"}


async def test_partition_maintenance_covers_governance_events(keep: Keep) -> None:
    async with keep.database.owner_transaction() as conn:
        await ensure_partitions(conn, months=2)
        names = (
            (
                await conn.exec_driver_sql(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                    " WHERE i.inhparent = 'governance_events'::regclass"
                )
            )
            .scalars()
            .all()
        )
    assert len(names) >= 3 and all(name.startswith("governance_events_20") for name in names)


# 001's indexes on governance_events, under agentkeep's names: (index, text after "USING ").
GOVERNANCE_INDEXES = {
    "pk_governance_events": "btree (user_id, id)",
    "ix_governance_events_session": "btree (user_id, agent_session_id, event_type, approved)",
    "ix_governance_events_type": "btree (user_id, event_type, id)",
    "ix_governance_events_framework": "btree (framework_type, framework_type_vocabulary)",
    "ix_governance_events_approved": "btree (approved)",
    "ix_governance_events_created_at": "btree (created_at)",
    "ix_governance_events_correlation_id": "btree (correlation_id)",
    "ix_governance_events_rejected": "btree (created_at, decision_reason) WHERE (approved = false)",
}


@pytest.mark.parametrize("index_name", sorted(GOVERNANCE_INDEXES))
async def test_governance_index_exists(owner: Any, index_name: str) -> None:
    definition = await owner.fetchval(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND indexname = $1", index_name
    )
    assert definition is not None, index_name
    assert "ON ONLY public.governance_events " in definition  # the partitioned parent's index
    assert definition.split(" USING ", 1)[1] == GOVERNANCE_INDEXES[index_name]


async def test_events_go_with_their_session_and_are_audited(keep: Keep, make_user: Any, owner: Any) -> None:
    """001's fk ... ON DELETE CASCADE and its audit_governance_events trigger."""
    user = await make_user()
    session = await approved_session(keep, user.user_id)
    event = await keep.governance.approve(user.user_id, session, Decision())
    async with keep.database.transaction(Principal.user(user.user_id)) as tx:
        await tx.conn.exec_driver_sql(f"DELETE FROM agent_sessions WHERE id = '{session}'")
    assert (await keep.governance.events(user.user_id)).items == []
    async with owner.transaction():
        await owner.execute("SET LOCAL agentkeep.principal = 'operator'")
        operations = await owner.fetch(
            "SELECT operation FROM audit_log WHERE user_id = $1 AND table_name = 'governance_events'"
            " AND record_id ->> 'id' = $2 ORDER BY seq",
            user.user_id,
            str(event.id),
        )
    assert [row["operation"] for row in operations] == ["INSERT", "DELETE"]


@pytest.mark.no_citus("an action appended as the owner, then read by the user (docs/audit.md, Citus)")
async def test_agent_audit_log_rows_cannot_be_deleted_while_their_agent_exists(
    keep: Keep, make_user: Any, as_app: Any, owner: Any
) -> None:
    """002's RESTRICT on the agent action log: its rows are the audit trail's, which nobody deletes."""
    user = await make_user()
    agent = await keep.agents.create(NewAgent(name=f"restrict-{new_id().hex[:8]}", persona_type="developer"))
    async with as_app(Principal.user(user.user_id)) as conn:
        await conn.execute(
            "INSERT INTO agentic.agent_audit_log (agent_id, action_type, action_details, risk_level, user_id)"
            " VALUES ($1, 'tool_call', '{}', 'critical', $2)",
            agent.id,
            user.user_id,
        )
        await refused(conn, InsufficientPrivilegeError, "DELETE FROM agentic.agent_audit_log")
        await refused(conn, InsufficientPrivilegeError, "DELETE FROM audit_log")
        kept = "SELECT count(*) FROM agentic.agent_audit_log WHERE agent_id = $1"
        assert await conn.fetchval(kept, agent.id) == 1
    # A committed entry of this agent: not even the owner may delete it while the agent exists.
    async with owner.transaction():
        await owner.execute(f"SET LOCAL agentkeep.user_id = '{user.user_id}'")
        await owner.execute(
            "SELECT audit_record_action($1, 'tool_call', '{}'::jsonb, 'critical', $2)", user.user_id, agent.id
        )
    async with owner.transaction():
        await owner.execute("SET LOCAL agentkeep.principal = 'operator'")
        with pytest.raises(
            asyncpg.InsufficientPrivilegeError, match="audit_log is append-only: DELETE refused"
        ):
            async with owner.transaction():
                await owner.execute("DELETE FROM audit_log WHERE agent_id = $1", agent.id)
        assert await owner.fetchval("SELECT count(*) FROM audit_log WHERE agent_id = $1", agent.id) == 1


async def test_an_operator_stops_one_agent_across_users_and_only_an_operator_may(
    keep: Keep, make_user: Any, client: Any
) -> None:
    agent = await keep.agents.create(NewAgent(name=f"stop-{new_id().hex[:8]}", persona_type="developer"))
    other = await keep.agents.create(NewAgent(name=f"keep-{new_id().hex[:8]}", persona_type="developer"))
    alice, bob = await make_user(), await make_user()
    sessions = {}
    for user, agent_id in ((alice, agent.id), (bob, agent.id), (bob, other.id)):
        created = await keep.agent_sessions.create(
            user.user_id, NewAgentSession(agent_type="developer", agent_id=agent_id)
        )
        await keep.agent_sessions.transition(user.user_id, created.id, StatusChange(status="approved"))
        await keep.agent_sessions.transition(user.user_id, created.id, StatusChange(status="running"))
        sessions[(user.user_id, agent_id)] = created.id
    with pytest.raises(Forbidden):
        await keep.governance.operator_stop(
            Principal.user(alice.user_id), agent.id, EmergencyStop(reason="x")
        )
    operator_key = (await keep.access_keys.create_operator_key(f"stop-{new_id().hex[:6]}")).secret
    user_key = (await keep.access_keys.create(alice.user_id)).secret
    url = f"/api/operator/agents/{agent.id}/emergency-stop"
    forbidden = await client.post(url, json={"reason": "x"}, headers={"Authorization": f"Bearer {user_key}"})
    assert forbidden.status_code == 403
    no_reason = await client.post(url, json={}, headers={"Authorization": f"Bearer {operator_key}"})
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    stopped = await client.post(
        url,
        json={"reason": "agent misbehaves", "created_by": "on-call"},
        headers={"Authorization": f"Bearer {operator_key}"},
    )
    assert stopped.status_code == 200, stopped.text
    assert {(item["user_id"], item["status_before"]) for item in stopped.json()["stopped"]} == {
        (str(alice.user_id), "running"),
        (str(bob.user_id), "running"),
    }
    for (user_id, agent_id), session in sessions.items():
        expected = "blocked" if agent_id == agent.id else "running"
        assert (await keep.agent_sessions.get(user_id, session)).status == expected
    [event] = (await keep.governance.events(bob.user_id)).items
    assert (event.event_type, event.decision_reason, event.created_by) == (
        "emergency_stop",
        "agent misbehaves",
        "on-call",
    )
    assert event.decision_details["agent_id"] == str(agent.id)

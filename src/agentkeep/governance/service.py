"""Governance: events, approvals (an approval is an event), the pending list and emergency stops.

The gates themselves are in the database (migration 0012, docs/governance.md): this service only
records decisions; whether a session may run is decided by the trigger, whatever writes it.
"""

from __future__ import annotations

import uuid

from agentkeep.actors import Actor, acting_user, as_principal
from agentkeep.agent_sessions.models import AgentSession
from agentkeep.database.engine import Database
from agentkeep.errors import Conflict, Forbidden, NotFound
from agentkeep.governance import repository
from agentkeep.governance.models import (
    Decision,
    EmergencyStop,
    GovernanceEvent,
    NewGovernanceEvent,
    StoppedSession,
    StopResult,
)
from agentkeep.models import read_one, reader
from agentkeep.pagination import Page, checked_limit, page_of
from agentkeep.principal import Principal

WHAT = "governance event"
# What a decision does to a session waiting for it (a running session keeps running; the
# database refuses its next start if the latest decision is a denial).
APPROVED_FROM = {"initializing": "approved", "pending_approval": "approved"}
DENIED_FROM = {"initializing": "blocked", "pending_approval": "blocked"}


class GovernanceService:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def record(self, actor: Actor, new: NewGovernanceEvent) -> GovernanceEvent:
        """Record an event as it is (the framework must be a term of the profile's vocabulary)."""
        user_id = acting_user(actor)
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.insert(tx.conn, new.model_dump() | {"user_id": user_id})
        return read_one(GovernanceEvent, row, what=WHAT)

    async def approve(self, actor: Actor, session_id: uuid.UUID, decision: Decision) -> GovernanceEvent:
        """Approve the session: an approved event; a session waiting for it becomes ``approved``."""
        return await self._decide(actor, session_id, decision, approved=True)

    async def deny(self, actor: Actor, session_id: uuid.UUID, decision: Decision) -> GovernanceEvent:
        """Deny the session: a rejected event; a session waiting for it becomes ``blocked``."""
        return await self._decide(actor, session_id, decision, approved=False)

    async def _decide(
        self, actor: Actor, session_id: uuid.UUID, decision: Decision, *, approved: bool
    ) -> GovernanceEvent:
        user_id = acting_user(actor)
        async with self._database.transaction(as_principal(actor)) as tx:
            status = await repository.session_status(tx.conn, user_id, session_id)
            if status is None:
                raise NotFound("agent session not found", field="agent_session_id")
            moves = APPROVED_FROM if approved else DENIED_FROM
            if status in {"completed", "failed", "cancelled", "blocked"}:
                raise Conflict(f"agent session is {status}: there is nothing left to decide", field="status")
            row = await repository.insert(
                tx.conn,
                {
                    "user_id": user_id,
                    "agent_session_id": session_id,
                    "event_type": decision.event_type,
                    "framework_type": decision.framework_type,
                    "approved": approved,
                    "validation_context": decision.validation_context,
                    "decision_reason": decision.reason,
                    "created_by": decision.created_by,
                },
            )
            if status in moves:
                await repository.set_status(tx.conn, user_id, session_id, moves[status])
        return read_one(GovernanceEvent, row, what=WHAT)

    async def events(
        self,
        actor: Actor,
        *,
        agent_session_id: uuid.UUID | None = None,
        before: uuid.UUID | None = None,
        limit: int = 50,
    ) -> Page[GovernanceEvent]:
        """The user's events, newest first (of one session, if named)."""
        limit = checked_limit(limit)
        async with self._database.transaction(as_principal(actor)) as tx:
            rows = await repository.list_page(
                tx.conn, acting_user(actor), agent_session_id=agent_session_id, before=before, limit=limit + 1
            )
        return page_of(rows, limit, reader(GovernanceEvent, what=WHAT))

    async def pending(
        self, actor: Actor, *, before: uuid.UUID | None = None, limit: int = 50
    ) -> Page[AgentSession]:
        """Sessions in ``pending_approval`` that no approval or denial has answered yet."""
        limit = checked_limit(limit)
        async with self._database.transaction(as_principal(actor)) as tx:
            kinds = list((await repository.policy(tx.conn))["approval_event_types"])
            rows = await repository.pending(
                tx.conn, acting_user(actor), kinds, before=before, limit=limit + 1
            )
        return page_of(rows, limit, reader(AgentSession, what="agent session"))

    async def emergency_stop(self, actor: Actor, stop: EmergencyStop) -> StopResult:
        """Block every live session of the user in one transaction, each with an emergency_stop event."""
        user_id = acting_user(actor)
        stopped = []
        async with self._database.transaction(as_principal(actor)) as tx:
            framework = str((await repository.policy(tx.conn))["enforcement_framework"])
            for session_id, before in await repository.block_live_sessions(tx.conn, user_id):
                row = await repository.insert(
                    tx.conn,
                    {
                        "user_id": user_id,
                        "agent_session_id": session_id,
                        "event_type": "emergency_stop",
                        "framework_type": framework,
                        "approved": False,
                        "decision_details": {"status_before": before},
                        "decision_reason": stop.reason,
                        "created_by": stop.created_by,
                    },
                )
                stopped.append(
                    StoppedSession(
                        agent_session_id=session_id, user_id=user_id, status_before=before, event_id=row["id"]
                    )
                )
        return StopResult(stopped=stopped)

    async def operator_stop(
        self, principal: Principal, agent_id: uuid.UUID, stop: EmergencyStop
    ) -> StopResult:
        """An operator's stop of one agent: every live session of it, whoever's, in one transaction."""
        if not principal.is_operator:  # the database refuses too; this names the cause
            raise Forbidden("an agent-wide emergency stop needs the operator principal (an operator key)")
        async with self._database.transaction(principal) as tx:
            rows = await repository.operator_stop(tx.conn, agent_id, stop.reason, stop.created_by)
        return StopResult(stopped=[StoppedSession.model_validate(dict(row)) for row in rows])

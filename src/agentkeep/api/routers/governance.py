"""/api/governance: the caller's governance events, approvals and emergency stop (docs/governance.md).

The gates are the database's: a session refused by one gets a 422 problem naming the rule and
the field ``status``, from whichever route tried to start it.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from agentkeep.agent_sessions.models import AgentSession
from agentkeep.api.dependencies import KeepDep, UserPrincipalDep
from agentkeep.governance.models import (
    Decision,
    EmergencyStop,
    GovernanceEvent,
    NewGovernanceEvent,
    StopResult,
)
from agentkeep.pagination import MAX_PAGE_SIZE, Page

router = APIRouter(prefix="/api/governance", tags=["governance"])


@router.post("/events", status_code=status.HTTP_201_CREATED)
async def record_event(
    keep: KeepDep, principal: UserPrincipalDep, new: NewGovernanceEvent
) -> GovernanceEvent:
    return await keep.governance.record(principal, new)


@router.get("/events")
async def list_events(
    keep: KeepDep,
    principal: UserPrincipalDep,
    agent_session_id: uuid.UUID | None = None,
    before: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> Page[GovernanceEvent]:
    return await keep.governance.events(
        principal, agent_session_id=agent_session_id, before=before, limit=limit
    )


@router.get("/approvals/pending")
async def pending_approvals(
    keep: KeepDep,
    principal: UserPrincipalDep,
    before: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> Page[AgentSession]:
    return await keep.governance.pending(principal, before=before, limit=limit)


@router.post("/approvals/{session_id}/approve", status_code=status.HTTP_201_CREATED)
async def approve(
    keep: KeepDep, principal: UserPrincipalDep, session_id: uuid.UUID, decision: Decision
) -> GovernanceEvent:
    return await keep.governance.approve(principal, session_id, decision)


@router.post("/approvals/{session_id}/deny", status_code=status.HTTP_201_CREATED)
async def deny(
    keep: KeepDep, principal: UserPrincipalDep, session_id: uuid.UUID, decision: Decision
) -> GovernanceEvent:
    return await keep.governance.deny(principal, session_id, decision)


@router.post("/emergency-stop")
async def emergency_stop(keep: KeepDep, principal: UserPrincipalDep, stop: EmergencyStop) -> StopResult:
    return await keep.governance.emergency_stop(principal, stop)

"""/api/activities: what agents propose for the caller, waiting for consent when it must."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from agentkeep.activities.models import Activity, ConsentDecision, NewActivity, Outcome
from agentkeep.activities.tables import ActivityStatus
from agentkeep.api.dependencies import KeepDep, UserPrincipalDep
from agentkeep.pagination import MAX_PAGE_SIZE, Page

router = APIRouter(prefix="/api/activities", tags=["agent activities"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def propose(keep: KeepDep, principal: UserPrincipalDep, new: NewActivity) -> Activity:
    """Approved at once when the consent tier and trust level allow it, else pending_consent."""
    return await keep.activities.propose(principal, new)


@router.get("")
async def list_activities(
    keep: KeepDep,
    principal: UserPrincipalDep,
    status: ActivityStatus | None = None,
    before: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> Page[Activity]:
    return await keep.activities.list(principal, status=status, before=before, limit=limit)


@router.get("/{activity_id}")
async def get_activity(keep: KeepDep, principal: UserPrincipalDep, activity_id: uuid.UUID) -> Activity:
    return await keep.activities.get(principal, activity_id)


@router.post("/{activity_id}/approve")
async def approve(
    keep: KeepDep,
    principal: UserPrincipalDep,
    activity_id: uuid.UUID,
    decision: ConsentDecision | None = None,
) -> Activity:
    return await keep.activities.approve(principal, activity_id, decision)


@router.post("/{activity_id}/reject")
async def reject(
    keep: KeepDep,
    principal: UserPrincipalDep,
    activity_id: uuid.UUID,
    decision: ConsentDecision | None = None,
) -> Activity:
    return await keep.activities.reject(principal, activity_id, decision)


@router.post("/{activity_id}/defer")
async def defer(
    keep: KeepDep,
    principal: UserPrincipalDep,
    activity_id: uuid.UUID,
    decision: ConsentDecision | None = None,
) -> Activity:
    return await keep.activities.defer(principal, activity_id, decision)


@router.post("/{activity_id}/execute")
async def execute(
    keep: KeepDep, principal: UserPrincipalDep, activity_id: uuid.UUID, outcome: Outcome | None = None
) -> Activity:
    return await keep.activities.execute(principal, activity_id, outcome)


@router.post("/{activity_id}/fail")
async def fail(
    keep: KeepDep, principal: UserPrincipalDep, activity_id: uuid.UUID, outcome: Outcome | None = None
) -> Activity:
    return await keep.activities.fail(principal, activity_id, outcome)

"""/api/decisions: the caller's agents' decisions, newest first with a cursor, and their feedback."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from agentkeep.api.dependencies import KeepDep, UserPrincipalDep
from agentkeep.decisions.models import Decision, FeedbackChange, NewDecision
from agentkeep.models import Text
from agentkeep.pagination import MAX_PAGE_SIZE, Page

router = APIRouter(prefix="/api/decisions", tags=["decisions"])
Filter = Annotated[Text | None, Query(min_length=1, max_length=100)]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_decision(keep: KeepDep, principal: UserPrincipalDep, new: NewDecision) -> Decision:
    """Record a decision; the parts the active profile encrypts are stored sealed."""
    return await keep.decisions.create(principal, new)


@router.get("")
async def list_decisions(
    keep: KeepDep,
    principal: UserPrincipalDep,
    subject: Filter = None,
    decision_type: Filter = None,
    agent_session_id: uuid.UUID | None = None,
    before: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> Page[Decision]:
    return await keep.decisions.list(
        principal,
        subject=subject,
        decision_type=decision_type,
        agent_session_id=agent_session_id,
        before=before,
        limit=limit,
    )


@router.get("/{decision_id}")
async def get_decision(keep: KeepDep, principal: UserPrincipalDep, decision_id: uuid.UUID) -> Decision:
    return await keep.decisions.get(principal, decision_id)


@router.post("/{decision_id}/feedback")
async def set_feedback(
    keep: KeepDep, principal: UserPrincipalDep, decision_id: uuid.UUID, change: FeedbackChange
) -> Decision:
    """The user's verdict, recorded with who gave it and when (the audit trail keeps each one)."""
    return await keep.decisions.set_feedback(principal, decision_id, change)

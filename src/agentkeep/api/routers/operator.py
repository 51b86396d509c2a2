"""/api/operator: cross-user reads, for operator keys only (docs/operators.md).

Every route takes ``OperatorPrincipalDep``: a user or service key gets a 403 problem body. Each
route is one line into an operator service (``keep.operators``; audit verification is added here
the same way).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from agentkeep.api.dependencies import KeepDep, OperatorPrincipalDep
from agentkeep.operators.models import UserActivity
from agentkeep.pagination import MAX_PAGE_SIZE, Page

router = APIRouter(prefix="/api/operator", tags=["operator"])


@router.get("/user-activity")
async def user_activity(
    keep: KeepDep,
    principal: OperatorPrincipalDep,
    before: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> Page[UserActivity]:
    """Seed 001's user_activity_summary for every active user, newest user first (each read is audited)."""
    return await keep.operators.user_activity(principal, before=before, limit=limit)

"""/api/audit: the caller's own audit trail, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from agentkeep.api.dependencies import KeepDep, UserPrincipalDep
from agentkeep.audit.models import AuditTrailPage
from agentkeep.models import INT32_MAX
from agentkeep.pagination import MAX_PAGE_SIZE

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("")
async def list_audit_entries(
    keep: KeepDep,
    principal: UserPrincipalDep,
    before: Annotated[
        int | None, Query(ge=1, le=INT32_MAX, description="a seq: entries older than it")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> AuditTrailPage:
    return await keep.audit.trail(principal, before=before, limit=limit)

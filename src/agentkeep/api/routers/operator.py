"""/api/operator: cross-user reads, for operator keys only (docs/operators.md).

Every route takes ``OperatorPrincipalDep``: a user or service key gets a 403 problem body. Each
route is one line into a service (``keep.operators``, ``keep.audit``).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from agentkeep.api.dependencies import KeepDep, OperatorPrincipalDep
from agentkeep.api.routers.users import Confirmed
from agentkeep.audit.models import RedactResult, VerifyReport
from agentkeep.governance.models import EmergencyStop, StopResult
from agentkeep.operators.models import UserActivity
from agentkeep.pagination import MAX_PAGE_SIZE, Page
from agentkeep.privacy.models import ErasureReport

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


@router.get("/audit/verify")
async def verify_audit(
    keep: KeepDep,
    principal: OperatorPrincipalDep,
    user: Annotated[uuid.UUID | None, Query(description="one user's chain; every chain when absent")] = None,
    live_rows: Annotated[bool, Query(description="also check each live row against its last entry")] = True,
) -> VerifyReport:
    """Recompute the audit hash chains; each broken chain's first broken link (docs/audit.md)."""
    return await keep.audit.verify(user, live_rows=live_rows)


@router.get("/audit/head")
async def audit_heads(keep: KeepDep, principal: OperatorPrincipalDep) -> dict[str, dict[str, object]]:
    """Every chain's head (``{user: {seq, hash}}``), to keep outside the database."""
    return await keep.audit.head()


@router.post("/audit/redact/{user_id}")
async def redact_audit(keep: KeepDep, principal: OperatorPrincipalDep, user_id: uuid.UUID) -> RedactResult:
    """Remove a user's personal content from the audit trail; the chains still verify."""
    return RedactResult(user_id=user_id, redacted=await keep.audit.redact(user_id))


@router.get(
    "/users/{user_id}/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/json": {}}}},
)
async def export_user(
    keep: KeepDep, principal: OperatorPrincipalDep, user_id: uuid.UUID
) -> StreamingResponse:
    """A data-subject access request: everything held about the user, decrypted (docs/privacy.md)."""
    return StreamingResponse(await keep.privacy.start_export(user_id), media_type="application/json")


@router.post("/users/{user_id}/erase")
async def erase_user(
    keep: KeepDep, principal: OperatorPrincipalDep, user_id: uuid.UUID, confirm: Confirmed
) -> ErasureReport:
    """Erase a user: data keys destroyed, rows deleted, audit entries redacted (docs/privacy.md)."""
    return await keep.privacy.erase(user_id)


@router.post("/agents/{agent_id}/emergency-stop")
async def emergency_stop_agent(
    keep: KeepDep, principal: OperatorPrincipalDep, agent_id: uuid.UUID, stop: EmergencyStop
) -> StopResult:
    """Block every live session of the agent, of every user, each with an emergency_stop event."""
    return await keep.governance.operator_stop(principal, agent_id, stop)

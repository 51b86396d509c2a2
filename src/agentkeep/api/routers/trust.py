"""/api/trust/{agent_id}: the caller's trust in one agent (level, history, metrics), and the
demotion hook. Levels change by themselves as decisions get feedback (docs/trust.md)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from agentkeep.api.dependencies import KeepDep, UserPrincipalDep
from agentkeep.models import Text
from agentkeep.pagination import MAX_PAGE_SIZE, Page
from agentkeep.trust.models import Demotion, TrustChange, TrustLevel, TrustMetric

router = APIRouter(prefix="/api/trust", tags=["trust"])
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


@router.get("/{agent_id}")
async def show_trust(keep: KeepDep, principal: UserPrincipalDep, agent_id: uuid.UUID) -> TrustLevel:
    """The agent's level (0-4) for the caller and the counts the rules read."""
    return await keep.trust.show(principal, agent_id)


@router.get("/{agent_id}/history")
async def trust_history(
    keep: KeepDep,
    principal: UserPrincipalDep,
    agent_id: uuid.UUID,
    before: uuid.UUID | None = None,
    limit: Limit = 50,
) -> Page[TrustChange]:
    """Every level change, newest first, with its rule and reason."""
    return await keep.trust.history(principal, agent_id, before=before, limit=limit)


@router.get("/{agent_id}/metrics")
async def trust_metrics(
    keep: KeepDep,
    principal: UserPrincipalDep,
    agent_id: uuid.UUID,
    metric_type: Annotated[Text | None, Query(min_length=1, max_length=50)] = None,
    before: dt.datetime | None = None,
    limit: Limit = 50,
) -> list[TrustMetric]:
    """Trust metrics, newest first; ``before`` is the last ``recorded_at`` read."""
    return await keep.trust.metrics(principal, agent_id, metric_type=metric_type, before=before, limit=limit)


@router.post("/{agent_id}/demote")
async def demote(
    keep: KeepDep, principal: UserPrincipalDep, agent_id: uuid.UUID, demotion: Demotion
) -> TrustLevel:
    """One level down (never below 0), recorded with the reason: e.g. a blocked ethical validation."""
    return await keep.trust.demote(principal, agent_id, demotion)

"""/api/consent: the caller's consent tier per scope, and the log of every consent (seed 004)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from agentkeep.api.dependencies import KeepDep, UserPrincipalDep
from agentkeep.consent.models import (
    ConsentLog,
    ConsentTier,
    NewConsentRecord,
    SettingsChange,
    TierChange,
)
from agentkeep.models import Text
from agentkeep.pagination import MAX_PAGE_SIZE, Page

router = APIRouter(prefix="/api/consent", tags=["consent"])
ScopePath = Annotated[Text, Path(min_length=1, max_length=100)]


@router.get("/tiers")
async def list_tiers(
    keep: KeepDep, principal: UserPrincipalDep, include_inactive: bool = False
) -> list[ConsentTier]:
    return await keep.consent.tiers(principal, include_inactive=include_inactive)


@router.get("/tiers/{scope}")
async def get_tier(keep: KeepDep, principal: UserPrincipalDep, scope: ScopePath) -> ConsentTier:
    return await keep.consent.get(principal, scope)


@router.put("/tiers/{scope}")
async def set_tier(
    keep: KeepDep, principal: UserPrincipalDep, scope: ScopePath, change: TierChange
) -> ConsentTier:
    """Set the scope's tier; the database logs the tier before and after."""
    return await keep.consent.set_tier(principal, scope, change)


@router.put("/tiers/{scope}/settings")
async def update_settings(
    keep: KeepDep, principal: UserPrincipalDep, scope: ScopePath, change: SettingsChange
) -> ConsentTier:
    return await keep.consent.update_settings(principal, scope, change)


@router.get("/logs")
async def list_logs(
    keep: KeepDep,
    principal: UserPrincipalDep,
    scope: Annotated[Text, Query(min_length=1, max_length=100)] | None = None,
    activity_id: uuid.UUID | None = None,
    before: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> Page[ConsentLog]:
    return await keep.consent.logs(
        principal, scope=scope, activity_id=activity_id, before=before, limit=limit
    )


@router.post("/logs", status_code=status.HTTP_201_CREATED)
async def record(keep: KeepDep, principal: UserPrincipalDep, new: NewConsentRecord) -> ConsentLog:
    """A consent given, refused or deferred outside an agent activity (e.g. a legal acknowledgement)."""
    return await keep.consent.record(principal, new)

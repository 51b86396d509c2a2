"""/api/agent-sessions/{id}/onboarding: seed 000's onboarding answers of an agent session."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from agentkeep.api.dependencies import KeepDep, UserPrincipalDep
from agentkeep.decisions.models import Onboarding, OnboardingChange

router = APIRouter(prefix="/api/agent-sessions", tags=["agent sessions"])


@router.get("/{session_id}/onboarding")
async def get_onboarding(keep: KeepDep, principal: UserPrincipalDep, session_id: uuid.UUID) -> Onboarding:
    return await keep.onboarding.get(principal, session_id)


@router.patch("/{session_id}/onboarding")
async def set_onboarding(
    keep: KeepDep, principal: UserPrincipalDep, session_id: uuid.UUID, change: OnboardingChange
) -> Onboarding:
    """Answer some of the questions (the first answer makes the row); values outside the
    profile's vocabularies are refused (422 naming the field)."""
    return await keep.onboarding.set(principal, session_id, change)

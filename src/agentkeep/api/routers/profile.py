"""/api/profile: the database's active profile and the vocabularies in force. Any principal reads it."""

from __future__ import annotations

from fastapi import APIRouter

from agentkeep.api.dependencies import KeepDep, PrincipalDep
from agentkeep.profiles.service import ActiveProfile

router = APIRouter(prefix="/api/profile", tags=["profile"])


@router.get("")
async def get_profile(keep: KeepDep, principal: PrincipalDep) -> ActiveProfile:
    """The active profile (name, version, vocabularies, defaults, agents, quotas, …)."""
    return await keep.profile.active(actor=principal)

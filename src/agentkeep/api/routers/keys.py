"""/api/keys: the caller's API keys. The secret is in the creation response only."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from agentkeep.access_keys.models import ApiKey, CreatedKey, NewKey
from agentkeep.api.dependencies import KeepDep, UserPrincipalDep
from agentkeep.pagination import Page

router = APIRouter(prefix="/api/keys", tags=["keys"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_key(keep: KeepDep, principal: UserPrincipalDep, new: NewKey | None = None) -> CreatedKey:
    return await keep.access_keys.create(principal, new)


@router.get("")
async def list_keys(keep: KeepDep, principal: UserPrincipalDep) -> Page[ApiKey]:
    """Every key of the caller in one page (next_cursor is always null)."""
    return Page[ApiKey](items=await keep.access_keys.list(principal))


@router.delete("/{key_id}")
async def revoke_key(keep: KeepDep, principal: UserPrincipalDep, key_id: uuid.UUID) -> ApiKey:
    return await keep.access_keys.revoke(principal, key_id)

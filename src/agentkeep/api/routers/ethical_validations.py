"""/api/ethical-validations: checks of the caller's messages and agent activities (seed 004)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from agentkeep.activities.models import EthicalValidation, NewEthicalValidation
from agentkeep.api.dependencies import KeepDep, UserPrincipalDep
from agentkeep.pagination import MAX_PAGE_SIZE

router = APIRouter(prefix="/api/ethical-validations", tags=["ethical validations"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def validate(
    keep: KeepDep, principal: UserPrincipalDep, new: NewEthicalValidation
) -> EthicalValidation:
    return await keep.activities.validate(principal, new)


@router.get("")
async def list_validations(
    keep: KeepDep,
    principal: UserPrincipalDep,
    activity_id: uuid.UUID | None = None,
    message_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> list[EthicalValidation]:
    return await keep.activities.validations(
        principal, activity_id=activity_id, message_id=message_id, limit=limit
    )


@router.post("/{validation_id}/override")
async def override(keep: KeepDep, principal: UserPrincipalDep, validation_id: uuid.UUID) -> EthicalValidation:
    """The user overrides a validation that allows it."""
    return await keep.activities.override(principal, validation_id)

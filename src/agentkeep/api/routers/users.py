"""/api/users: registration (service keys) and the caller's own user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator

from agentkeep.actors import acting_user
from agentkeep.api.dependencies import KeepDep, ServicePrincipalDep, UserPrincipalDep
from agentkeep.errors import Forbidden
from agentkeep.privacy.models import ErasureReport
from agentkeep.users.models import NewUser, User, UserUpdate

router = APIRouter(prefix="/api/users", tags=["users"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_user(keep: KeepDep, _: ServicePrincipalDep, new: NewUser) -> User:
    return await keep.users.create(new)


@router.get("/me")
async def get_me(keep: KeepDep, principal: UserPrincipalDep) -> User:
    return await keep.users.get(principal)


def allowed_changes(principal: UserPrincipalDep, changes: UserUpdate) -> UserUpdate:
    """Email and username are changed through a service key only.

    A taken email or username must be refused, and any refusal that differs from a success
    tells the caller that someone else holds that address or name: from a user's own key,
    PATCH /me would be a way to find out who has an account. The service that registers users
    (POST /api/users is service-only too) already knows its accounts, can verify a new address
    before it changes it, and gets the 409 as before. A user key may change everything else.
    """
    identity = sorted({"email", "username"} & changes.model_fields_set)
    if identity and not principal.is_service:
        raise Forbidden(
            f"{' and '.join(identity)} can be changed only through your service (a service key)",
            field=identity[0],
        )
    return changes


@router.patch("/me")
async def update_me(
    keep: KeepDep, principal: UserPrincipalDep, changes: Annotated[UserUpdate, Depends(allowed_changes)]
) -> User:
    """Change your profile. ``email`` and ``username``: with a service key only (403 otherwise)."""
    return await keep.users.update(principal, changes)


@router.delete("/me", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_me(keep: KeepDep, principal: UserPrincipalDep) -> None:
    await keep.users.delete(principal)


@router.get(
    "/me/export", response_class=StreamingResponse, responses={200: {"content": {"application/json": {}}}}
)
async def export_me(keep: KeepDep, principal: UserPrincipalDep) -> StreamingResponse:
    """Everything agentkeep holds about you, decrypted, as one JSON document (docs/privacy.md)."""
    return StreamingResponse(
        await keep.privacy.start_export(acting_user(principal)), media_type="application/json"
    )


def _must_be_true(confirm: bool) -> bool:
    if not confirm:
        raise ValueError("erasure cannot be undone: send confirm=true")
    return confirm


Confirmed = Annotated[
    bool, Query(description="Must be true: erasure cannot be undone."), AfterValidator(_must_be_true)
]
"""An erasure's confirmation: a query parameter that must be ``true`` (else a 422 naming it)."""


@router.post("/me/erase")
async def erase_me(keep: KeepDep, principal: UserPrincipalDep, confirm: Confirmed) -> ErasureReport:
    """Erase yourself: your data keys, every row, your audit entries' content (docs/privacy.md)."""
    return await keep.privacy.erase(acting_user(principal))

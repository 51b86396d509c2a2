"""/api/users: registration (service keys) and the caller's own user."""

from __future__ import annotations

from fastapi import APIRouter, status

from agentkeep.api.dependencies import KeepDep, ServicePrincipalDep, UserPrincipalDep
from agentkeep.users.models import NewUser, User, UserUpdate

router = APIRouter(prefix="/api/users", tags=["users"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_user(keep: KeepDep, _: ServicePrincipalDep, new: NewUser) -> User:
    return await keep.users.create(new)


@router.get("/me")
async def get_me(keep: KeepDep, principal: UserPrincipalDep) -> User:
    return await keep.users.get(principal)


@router.patch("/me")
async def update_me(keep: KeepDep, principal: UserPrincipalDep, changes: UserUpdate) -> User:
    return await keep.users.update(principal, changes)


@router.delete("/me", status_code=status.HTTP_204_NO_CONTENT)
async def delete_me(keep: KeepDep, principal: UserPrincipalDep) -> None:
    await keep.users.delete(principal)

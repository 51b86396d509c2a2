"""/api/sessions: the caller's login sessions (token shown once)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query, status

from agentkeep.api.dependencies import KeepDep, UserPrincipalDep
from agentkeep.models import Text
from agentkeep.pagination import MAX_PAGE_SIZE, Page
from agentkeep.user_sessions.models import NewUserSession, StartedUserSession, UserSession

router = APIRouter(prefix="/api/sessions", tags=["user sessions"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def start_session(
    keep: KeepDep, principal: UserPrincipalDep, new: NewUserSession | None = None
) -> StartedUserSession:
    return await keep.user_sessions.start(principal, new or NewUserSession())


@router.get("")
async def list_sessions(
    keep: KeepDep,
    principal: UserPrincipalDep,
    active_only: bool = False,
    before: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> Page[UserSession]:
    """Newest first; sessions past their expiry are marked expired first."""
    return await keep.user_sessions.list(principal, active_only=active_only, before=before, limit=limit)


@router.post("/touch")
async def touch_session(
    keep: KeepDep, principal: UserPrincipalDep, token: Annotated[Text, Body(embed=True, max_length=512)]
) -> UserSession:
    """Validate a session token and record activity; an expired one is a 401."""
    return await keep.user_sessions.touch(principal, token)


@router.get("/{session_id}")
async def get_session(keep: KeepDep, principal: UserPrincipalDep, session_id: uuid.UUID) -> UserSession:
    return await keep.user_sessions.get(principal, session_id)


@router.post("/{session_id}/end")
async def end_session(keep: KeepDep, principal: UserPrincipalDep, session_id: uuid.UUID) -> UserSession:
    return await keep.user_sessions.end(principal, session_id)

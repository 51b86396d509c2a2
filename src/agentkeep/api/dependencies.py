"""What every route may ask for: the Keep, and the principal the request's key stands for."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agentkeep.errors import Forbidden, InvalidInput, Unauthenticated
from agentkeep.keep import Keep
from agentkeep.principal import Principal

_bearer = HTTPBearer(auto_error=False, description="An agentkeep API key (ak_…) or service key (aks_…).")


def get_keep(request: Request) -> Keep:
    keep: Keep = request.app.state.keep
    return keep


KeepDep = Annotated[Keep, Depends(get_keep)]


async def get_principal(
    keep: KeepDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    acting_for: Annotated[
        str | None,
        Header(
            alias="X-Agentkeep-User",
            description="With a service key: the id of the user the request acts for.",
        ),
    ] = None,
) -> Principal:
    if credentials is None:
        raise Unauthenticated("send an API key as 'Authorization: Bearer <key>'")
    user_id: uuid.UUID | None = None
    if acting_for is not None:
        try:
            user_id = uuid.UUID(acting_for)
        except ValueError:
            raise InvalidInput("X-Agentkeep-User is not a UUID", field="X-Agentkeep-User") from None
    return await keep.access_keys.authenticate(credentials.credentials, acting_for=user_id)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_user_principal(principal: PrincipalDep) -> Principal:
    """A principal acting for one user: a user key, or a service key naming the user."""
    if principal.user_id is None:
        raise InvalidInput(
            "a service key must name the user it acts for in X-Agentkeep-User", field="X-Agentkeep-User"
        )
    return principal


UserPrincipalDep = Annotated[Principal, Depends(get_user_principal)]


def get_service_principal(principal: PrincipalDep) -> Principal:
    if not principal.is_service:
        raise Forbidden("this needs a service key")
    return principal


ServicePrincipalDep = Annotated[Principal, Depends(get_service_principal)]

"""What every route may ask for: the Keep, and the principal the request's key stands for."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agentkeep.errors import Forbidden, InvalidInput, Unauthenticated
from agentkeep.keep import Keep
from agentkeep.principal import Principal

_bearer = HTTPBearer(
    auto_error=False,
    description="An agentkeep API key (ak_…), service key (aks_…) or operator key (ako_…, /api/operator).",
)


def get_keep(request: Request) -> Keep:
    keep: Keep = request.app.state.keep
    return keep


KeepDep = Annotated[Keep, Depends(get_keep)]


class ActivityClock:
    """Says when to write a user's ``last_active_at``: at most once a minute per user and process.

    Every authenticated request is activity, but a write per request would double the cost of
    the cheapest reads; a minute is as fine as "last active" needs to be.
    """

    def __init__(self, every_seconds: float = 60.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_seconds = every_seconds
        self._clock = clock
        self._written: dict[uuid.UUID, float] = {}

    def due(self, user_id: uuid.UUID) -> bool:
        now = self._clock()
        last = self._written.get(user_id)
        if last is not None and now - last < self.every_seconds:
            return False
        if len(self._written) >= 10_000:  # forget the users not seen for a minute: bounded memory
            self._written = {k: v for k, v in self._written.items() if now - v < self.every_seconds}
        self._written[user_id] = now
        return True


async def get_principal(
    request: Request,
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
    principal = await keep.access_keys.authenticate(credentials.credentials, acting_for=user_id)
    activity: ActivityClock | None = getattr(request.app.state, "activity", None)
    if principal.user_id is not None and activity is not None and activity.due(principal.user_id):
        await keep.users.touch(principal)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_user_principal(principal: PrincipalDep) -> Principal:
    """A principal acting for one user: a user key, or a service key naming the user."""
    if principal.is_operator:
        raise Forbidden("an operator key is for /api/operator only")
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


def get_operator_principal(principal: PrincipalDep) -> Principal:
    """Only an operator key: user and service keys are refused (403), whatever user they name."""
    if not principal.is_operator:
        raise Forbidden("this needs an operator key")
    return principal


OperatorPrincipalDep = Annotated[Principal, Depends(get_operator_principal)]

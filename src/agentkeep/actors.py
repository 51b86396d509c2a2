"""What SDK callers pass to say whom a call is for."""

from __future__ import annotations

import uuid
from typing import TypeAlias

from agentkeep.errors import InvalidInput
from agentkeep.principal import Principal

Actor: TypeAlias = Principal | uuid.UUID
"""A Principal, or a user id: trusted backend code acting for that user as a service."""


def as_principal(actor: Actor) -> Principal:
    if isinstance(actor, Principal):
        return actor
    if type(actor) is uuid.UUID:
        return Principal.service(actor)
    # A UUID subclass or a string: normalise it, so the SET LOCAL text is always a plain UUID.
    try:
        return Principal.service(uuid.UUID(str(actor)))
    except ValueError:
        raise InvalidInput(f"{actor!r} is not a user id", field="user_id") from None


def acting_user(actor: Actor) -> uuid.UUID:
    principal = as_principal(actor)
    if principal.user_id is None:
        raise InvalidInput("this call acts for a user: name one", field="user_id")
    return principal.user_id

"""API keys: a user's own keys, service keys for backends, and turning a key into a Principal.

A user key reads ``ak_<user id hex>_<secret>``: the id says whose rows to search, so checking
it is an ordinary read under that user's row-level security. A service key reads
``aks_<secret>``; service keys are operator rows the application role may only read. An
operator key reads ``ako_<secret>``: made only with the owner's connection (the CLI), it stands
for the operator principal, which acts for no user and reads across users only through the
operator functions (docs/operators.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from agentkeep.access_keys import repository
from agentkeep.access_keys.models import ApiKey, CreatedKey, NewKey, UserWithKey
from agentkeep.actors import Actor, acting_user, as_principal
from agentkeep.database.engine import Database
from agentkeep.errors import InvalidInput, NotFound, Unauthenticated
from agentkeep.ids import new_id
from agentkeep.principal import Principal
from agentkeep.tokens import digest, new_secret
from agentkeep.users import repository as users_repository
from agentkeep.users.models import NewUser, User
from agentkeep.users.service import register as register_user

USER_KEY_PREFIX = "ak_"
SERVICE_KEY_PREFIX = "aks_"
OPERATOR_KEY_PREFIX = "ako_"


class AccessKeyService:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def create(self, actor: Actor, new: NewKey | None = None) -> CreatedKey:
        """A new API key of the acting user; NotFound when that user does not exist (or was deleted)."""
        user_id = acting_user(actor)
        secret, values = _new_user_key(user_id, new or NewKey())
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.insert_api_key(tx.conn, values)
        if row is None:
            raise NotFound("user not found", field="user_id")
        return CreatedKey(key=ApiKey.model_validate(dict(row)), secret=secret)

    async def create_user_with_key(self, new_user: NewUser, new_key: NewKey | None = None) -> UserWithKey:
        """Register a user and give them an API key, in one transaction: both are stored or neither."""
        user_id = new_id()
        secret, key_values = _new_user_key(user_id, new_key or NewKey())
        async with self._database.transaction(Principal.service(user_id)) as tx:
            user_row = await register_user(tx.conn, user_id, new_user)
            key_row = await repository.insert_api_key(tx.conn, key_values)
        assert key_row is not None, "the user was inserted in this very transaction"
        return UserWithKey(
            user=User.model_validate(dict(user_row)),
            api_key=CreatedKey(key=ApiKey.model_validate(dict(key_row)), secret=secret),
        )

    async def create_service_key(
        self, name: str = "service", *, expires_at: datetime | None = None
    ) -> CreatedKey:
        """An operator action: written with the schema owner's connection."""
        new = NewKey(name=name, expires_at=expires_at)
        secret = f"{SERVICE_KEY_PREFIX}{new_secret()}"
        async with self._database.owner_transaction() as conn:
            row = await repository.insert_service_key(
                conn, {"id": new_id(), "secret_hash": digest(secret), **new.model_dump()}
            )
        return CreatedKey(key=ApiKey.model_validate(dict(row)), secret=secret)

    async def create_first_service_key(self, name: str = "first run") -> CreatedKey | None:
        """A service key for a database that has none yet (``agentkeep up``'s first run), else None."""
        new = NewKey(name=name)
        secret = f"{SERVICE_KEY_PREFIX}{new_secret()}"
        async with self._database.owner_transaction() as conn:
            row = await repository.insert_first_service_key(
                conn, {"id": new_id(), "secret_hash": digest(secret), **new.model_dump()}
            )
        if row is None:
            return None
        return CreatedKey(key=ApiKey.model_validate(dict(row)), secret=secret)

    async def create_operator_key(
        self, name: str = "operator", *, expires_at: datetime | None = None
    ) -> CreatedKey:
        """An operator key, written with the schema owner's connection: no API route makes one."""
        new = NewKey(name=name, expires_at=expires_at)
        secret = f"{OPERATOR_KEY_PREFIX}{new_secret()}"
        async with self._database.owner_transaction() as conn:
            row = await repository.insert_operator_key(
                conn, {"id": new_id(), "secret_hash": digest(secret), **new.model_dump()}
            )
        return CreatedKey(key=ApiKey.model_validate(dict(row)), secret=secret)

    async def list_operator_keys(self) -> list[ApiKey]:
        async with self._database.owner_transaction() as conn:
            rows = await repository.list_operator_keys(conn)
        return [ApiKey.model_validate(dict(row)) for row in rows]

    async def revoke_operator_key(self, key_id: uuid.UUID) -> ApiKey:
        async with self._database.owner_transaction() as conn:
            row = await repository.revoke_operator_key(conn, key_id)
        if row is None:
            raise NotFound("no active operator key with that id", field="key_id")
        return ApiKey.model_validate(dict(row))

    async def count_service_keys(self) -> int:
        async with self._database.owner_transaction() as conn:
            return await repository.count_service_keys(conn)

    async def list(self, actor: Actor) -> list[ApiKey]:
        async with self._database.transaction(as_principal(actor)) as tx:
            rows = await repository.list_api_keys(tx.conn, acting_user(actor))
        return [ApiKey.model_validate(dict(row)) for row in rows]

    async def revoke(self, actor: Actor, key_id: uuid.UUID) -> ApiKey:
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.revoke_api_key(tx.conn, acting_user(actor), key_id)
        if row is None:
            raise NotFound("no active key with that id")
        return ApiKey.model_validate(dict(row))

    async def authenticate(self, secret: str, *, acting_for: uuid.UUID | None = None) -> Principal:
        """The principal a key stands for. A service key may name the user it acts for.

        A user key's ``last_used_at`` is brought up to date (to the minute) by the same statement.
        Service keys are operator rows the application role may not write: theirs is not.
        """
        if secret.startswith(OPERATOR_KEY_PREFIX):
            return await self._authenticate_operator(secret, acting_for)
        if secret.startswith(SERVICE_KEY_PREFIX):
            async with self._database.transaction(Principal.service(acting_for)) as tx:
                found = await repository.find_service_key(tx.conn, digest(secret))
                # A deleted user's rows are out of reach through a service key too.
                user_is_there = acting_for is None or await users_repository.is_live(tx.conn, acting_for)
            if found is None:
                raise Unauthenticated("unknown, expired or revoked service key")
            if not user_is_there:
                raise NotFound("user not found", field="X-Agentkeep-User")
            return Principal.service(acting_for)
        user_id = _user_of(secret)
        principal = Principal.user(user_id)
        async with self._database.transaction(principal) as tx:
            found = await repository.use_api_key(tx.conn, user_id, digest(secret))
        if found is None:
            raise Unauthenticated("unknown, expired or revoked API key")
        if acting_for is not None and acting_for != user_id:
            # A user key speaks only for its own user; naming another is refused, not ignored.
            raise Unauthenticated("a user's API key cannot act for another user")
        return principal

    async def _authenticate_operator(self, secret: str, acting_for: uuid.UUID | None) -> Principal:
        if acting_for is not None:
            # An operator reads across users through its own functions; it never acts as one.
            raise InvalidInput(
                "an operator key acts for no user: drop X-Agentkeep-User", field="X-Agentkeep-User"
            )
        principal = Principal.operator()
        async with self._database.transaction(principal) as tx:
            found = await repository.find_operator_key(tx.conn, digest(secret))
        if found is None:
            raise Unauthenticated("unknown, expired or revoked operator key")
        return principal


def _new_user_key(user_id: uuid.UUID, new: NewKey) -> tuple[str, dict[str, Any]]:
    """A fresh secret for ``user_id`` and the row that stores only its digest."""
    secret = f"{USER_KEY_PREFIX}{user_id.hex}_{new_secret()}"
    return secret, {"user_id": user_id, "id": new_id(), "secret_hash": digest(secret), **new.model_dump()}


def _user_of(secret: str) -> uuid.UUID:
    if not secret.startswith(USER_KEY_PREFIX):
        raise Unauthenticated("not an agentkeep key")
    user_hex, _, rest = secret[len(USER_KEY_PREFIX) :].partition("_")
    try:
        user_id = uuid.UUID(hex=user_hex)
    except ValueError:
        raise Unauthenticated("malformed API key") from None
    if not rest:
        raise Unauthenticated("malformed API key")
    return user_id

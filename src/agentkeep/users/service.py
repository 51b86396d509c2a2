"""Users: create, read, update with optimistic locking, soft delete, password check."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.actors import Actor, acting_user, as_principal
from agentkeep.consent import repository as consent_repository
from agentkeep.database.engine import Database
from agentkeep.errors import NotFound
from agentkeep.ids import new_id
from agentkeep.principal import Principal
from agentkeep.users import repository
from agentkeep.users.models import NewUser, User, UserUpdate
from agentkeep.users.passwords import hash_password, verify_password


class UserService:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def create(self, new: NewUser) -> User:
        """Register a user. The new row is written acting as that user, so RLS checks it too."""
        user_id = new_id()
        async with self._database.transaction(Principal.service(user_id)) as tx:
            row = await register(tx.conn, user_id, new)
        return User.model_validate(dict(row))

    async def get(self, actor: Actor) -> User:
        user_id = acting_user(actor)
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.get(tx.conn, user_id)
        if row is None:
            raise NotFound("user not found")
        return User.model_validate(dict(row))

    async def update(self, actor: Actor, changes: UserUpdate) -> User:
        user_id = acting_user(actor)
        values = changes.model_dump(exclude={"version"}, exclude_unset=True)
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.update(tx.conn, user_id, changes.version, values)
            if values.keys() & {"email", "username"}:
                await repository.release_handles(tx.conn, user_id)
                await repository.claim_handles(tx.conn, user_id, row["email"], row["username"])
        return User.model_validate(dict(row))

    async def touch(self, actor: Actor) -> None:
        async with self._database.transaction(as_principal(actor)) as tx:
            await repository.touch(tx.conn, acting_user(actor))

    async def delete(self, actor: Actor) -> None:
        """Soft delete: the row stays (deleted_at set) until retention erases it.

        In the same transaction everything of the user is made unreachable or unusable: their
        conversations (and so their messages) are soft-deleted, their API keys and active
        sessions revoked, their running agent sessions cancelled.
        """
        user_id = acting_user(actor)
        async with self._database.transaction(as_principal(actor)) as tx:
            if not await repository.soft_delete(tx.conn, user_id):
                raise NotFound("user not found")
            await repository.retire_belongings(tx.conn, user_id)
            await repository.release_handles(tx.conn, user_id)

    async def check_password(self, user_id: uuid.UUID, password: str) -> bool:
        async with self._database.transaction(Principal.service(user_id)) as tx:
            stored = await repository.password_hash(tx.conn, user_id)
        return stored is not None and verify_password(stored, password)


async def register(conn: AsyncConnection, user_id: uuid.UUID, new: NewUser) -> sa.RowMapping:
    """Store a new user, claim their e-mail and username and give them the profile's default
    consent scopes, in the caller's transaction (every way of creating a user goes through
    here, so none can skip the handles or the scopes)."""
    row = await repository.insert(conn, row_values(user_id, new))
    await repository.claim_handles(conn, user_id, row["email"], row["username"])
    await consent_repository.create_defaults(conn, user_id)
    return row


def row_values(user_id: uuid.UUID, new: NewUser) -> dict[str, Any]:
    """The row a new user is stored as (the password only as its hash)."""
    values: dict[str, Any] = {"user_id": user_id, **new.model_dump(exclude={"password"})}
    if new.password is not None:
        values["password_hash"] = hash_password(new.password.get_secret_value())
    return values

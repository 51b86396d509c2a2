"""Users: create, read, update with optimistic locking, soft delete, password check."""

from __future__ import annotations

import uuid

from agentkeep.actors import Actor, acting_user, as_principal
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
        values = new.model_dump(exclude={"password"})
        if new.password is not None:
            values["password_hash"] = hash_password(new.password.get_secret_value())
        async with self._database.transaction(Principal.service(user_id)) as tx:
            row = await repository.insert(tx.conn, {"user_id": user_id, **values})
            await repository.claim_handles(tx.conn, user_id, row["email"], row["username"])
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
        """Soft delete: the row stays (deleted_at set) until retention erases it."""
        async with self._database.transaction(as_principal(actor)) as tx:
            if not await repository.soft_delete(tx.conn, acting_user(actor)):
                raise NotFound("user not found")
            await repository.release_handles(tx.conn, acting_user(actor))

    async def check_password(self, user_id: uuid.UUID, password: str) -> bool:
        async with self._database.transaction(Principal.service(user_id)) as tx:
            stored = await repository.password_hash(tx.conn, user_id)
        return stored is not None and verify_password(stored, password)

"""Messages: append one or a batch, latest N, pages in either direction, threads, soft delete."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Literal

from agentkeep.actors import Actor, acting_user, as_principal
from agentkeep.database.engine import Database
from agentkeep.errors import InvalidInput, NotFound
from agentkeep.ids import new_id, new_ids
from agentkeep.messages import repository
from agentkeep.messages.models import Message, NewMessage
from agentkeep.pagination import Page, checked_limit, page_of

CONVERSATION_NOT_FOUND = "conversation not found"

MAX_BATCH = 1000
MAX_THREAD = 10_000


class MessageService:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def append(self, actor: Actor, conversation_id: uuid.UUID, message: NewMessage) -> Message:
        principal = as_principal(actor)
        user_id = acting_user(principal)
        message_id = new_id()
        async with self._database.driver_transaction(principal) as tx:
            created_at = await repository.insert_one(tx.driver, user_id, message_id, conversation_id, message)
        if created_at is None:
            raise NotFound(CONVERSATION_NOT_FOUND, field="conversation_id")
        return repository.stored(user_id, conversation_id, message_id, message, created_at)

    async def append_many(
        self, actor: Actor, conversation_id: uuid.UUID, batch: Sequence[NewMessage]
    ) -> list[Message]:
        """Append a batch in one statement and one transaction: all of it or none of it."""
        if not 1 <= len(batch) <= MAX_BATCH:
            raise InvalidInput(f"a batch holds 1 to {MAX_BATCH} messages", field="messages")
        principal = as_principal(actor)
        user_id = acting_user(principal)
        ids = new_ids(len(batch))
        async with self._database.driver_transaction(principal) as tx:
            inserted, created_at = await repository.insert_many(
                tx.driver, user_id, conversation_id, ids, batch
            )
        if inserted == 0 or created_at is None:
            raise NotFound(CONVERSATION_NOT_FOUND, field="conversation_id")
        return [
            repository.stored(user_id, conversation_id, i, m, created_at)
            for i, m in zip(ids, batch, strict=True)
        ]

    async def latest(
        self, actor: Actor, conversation_id: uuid.UUID, limit: int = 50, *, include_blocked: bool = False
    ) -> list[Message]:
        """The last ``limit`` messages, oldest first: the context window to hand a model.

        Messages an ethical validation blocked (``ethical_validation`` ``{"overall": "blocked"}``)
        are stored but left out, unless ``include_blocked``. NotFound when the conversation is
        missing, deleted or someone else's."""
        limit = checked_limit(limit)
        principal = as_principal(actor)
        user_id = acting_user(principal)
        async with self._database.driver_transaction(principal) as tx:
            found = await repository.latest(
                tx.driver, user_id, conversation_id, limit, include_blocked=include_blocked
            )
        if found is None:
            raise NotFound(CONVERSATION_NOT_FOUND, field="conversation_id")
        found.reverse()
        return found

    async def page(
        self,
        actor: Actor,
        conversation_id: uuid.UUID,
        *,
        before: uuid.UUID | None = None,
        after: uuid.UUID | None = None,
        limit: int = 50,
        order: Literal["asc", "desc"] = "desc",
    ) -> Page[Message]:
        """A page of messages. ``desc`` walks back from the newest (or from ``before``); ``asc``
        walks forward from the oldest (or from ``after``). ``next_cursor`` continues the walk.
        NotFound when the conversation is missing, deleted or someone else's."""
        limit = checked_limit(limit)
        principal = as_principal(actor)
        user_id = acting_user(principal)
        async with self._database.driver_transaction(principal) as tx:
            if order == "desc":
                if after is not None:
                    raise InvalidInput("'after' goes with order 'asc'", field="after")
                if before is None:
                    found = await repository.latest(tx.driver, user_id, conversation_id, limit + 1)
                else:
                    found = await repository.before(tx.driver, user_id, conversation_id, before, limit + 1)
            else:
                if before is not None:
                    raise InvalidInput("'before' goes with order 'desc'", field="before")
                found = await repository.after(tx.driver, user_id, conversation_id, after, limit + 1)
        if found is None:
            raise NotFound(CONVERSATION_NOT_FOUND, field="conversation_id")
        return page_of(found, limit, list)

    async def get(self, actor: Actor, message_id: uuid.UUID) -> Message:
        async with self._database.driver_transaction(as_principal(actor)) as tx:
            found = await repository.get(tx.driver, acting_user(actor), message_id)
        if found is None:
            raise NotFound("message not found")
        return found

    async def thread(self, actor: Actor, message_id: uuid.UUID) -> list[Message]:
        """The message, the chain of parents up to the root, and every reply below it."""
        async with self._database.driver_transaction(as_principal(actor)) as tx:
            found = await repository.thread(tx.driver, acting_user(actor), message_id, MAX_THREAD)
        if not found:
            raise NotFound("message not found")
        return found

    async def delete(self, actor: Actor, message_id: uuid.UUID) -> None:
        """Soft delete: hidden from reads; replies keep pointing at it."""
        async with self._database.driver_transaction(as_principal(actor)) as tx:
            if not await repository.soft_delete(tx.driver, acting_user(actor), message_id):
                raise NotFound("message not found")

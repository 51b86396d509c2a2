"""Messages: append one or a batch, latest N, pages in either direction, threads, soft delete."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Literal

from agentkeep.actors import Actor, acting_user, as_principal
from agentkeep.database.engine import Database
from agentkeep.database.jsonb import loads
from agentkeep.errors import InvalidInput, NotFound
from agentkeep.ids import new_id, new_ids
from agentkeep.messages import repository
from agentkeep.messages.models import Message, NewMessage
from agentkeep.pagination import Page, checked_limit, page_of

MAX_BATCH = 1000
MAX_THREAD = 10_000


def _from_rows(rows: Sequence[Any]) -> list[Message]:
    """Messages from rows of ``repository.COLUMNS``; the JSON columns arrive as text.

    Unpacking a row into the dataclass and decoding its JSON here, with the empty object (the
    usual metadata) skipped, costs less than asyncpg calling a Python codec for every JSON value
    (docs/benchmarks.md).
    """
    messages = [Message(*row) for row in rows]
    for message in messages:
        metadata: Any = message.metadata
        message.metadata = {} if metadata == "{}" else loads(metadata)
        if message.reasoning_trace is not None:
            message.reasoning_trace = loads(message.reasoning_trace)
        validation: Any = message.ethical_validation
        if validation is not None:
            message.ethical_validation = loads(validation)
    return messages


def _from_input(
    user_id: uuid.UUID, conversation_id: uuid.UUID, message_id: uuid.UUID, m: NewMessage, created_at: Any
) -> Message:
    return Message(
        id=message_id,
        user_id=user_id,
        conversation_id=conversation_id,
        parent_message_id=m.parent_message_id,
        agent_session_id=m.agent_session_id,
        role=m.role,
        message_type=m.message_type,
        content=m.content,
        agent_name=m.agent_name,
        reasoning_trace=m.reasoning_trace,
        ethical_validation=m.ethical_validation,
        metadata=m.metadata,
        token_count=m.token_count,
        model_used=m.model_used,
        created_at=created_at,
    )


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
            raise NotFound("conversation not found", field="conversation_id")
        return _from_input(user_id, conversation_id, message_id, message, created_at)

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
        if inserted == 0:
            raise NotFound("conversation not found", field="conversation_id")
        return [
            _from_input(user_id, conversation_id, i, m, created_at) for i, m in zip(ids, batch, strict=True)
        ]

    async def latest(self, actor: Actor, conversation_id: uuid.UUID, limit: int = 50) -> list[Message]:
        """The last ``limit`` messages, oldest first: the context window to hand a model."""
        limit = checked_limit(limit)
        principal = as_principal(actor)
        user_id = acting_user(principal)
        async with self._database.driver_transaction(principal) as tx:
            rows = await repository.latest(tx.driver, user_id, conversation_id, limit)
        return _from_rows(rows[::-1])

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
        walks forward from the oldest (or from ``after``). ``next_cursor`` continues the walk."""
        limit = checked_limit(limit)
        principal = as_principal(actor)
        user_id = acting_user(principal)
        async with self._database.driver_transaction(principal) as tx:
            if order == "desc":
                if after is not None:
                    raise InvalidInput("'after' goes with order 'asc'", field="after")
                if before is None:
                    rows = await repository.latest(tx.driver, user_id, conversation_id, limit + 1)
                else:
                    rows = await repository.before(tx.driver, user_id, conversation_id, before, limit + 1)
            else:
                if before is not None:
                    raise InvalidInput("'before' goes with order 'desc'", field="before")
                rows = await repository.after(tx.driver, user_id, conversation_id, after, limit + 1)
        return page_of(rows, limit, _from_rows)

    async def get(self, actor: Actor, message_id: uuid.UUID) -> Message:
        async with self._database.driver_transaction(as_principal(actor)) as tx:
            row = await repository.get(tx.driver, acting_user(actor), message_id)
        if row is None:
            raise NotFound("message not found")
        return _from_rows([row])[0]

    async def thread(self, actor: Actor, message_id: uuid.UUID) -> list[Message]:
        """The message, the chain of parents up to the root, and every reply below it."""
        async with self._database.driver_transaction(as_principal(actor)) as tx:
            rows = await repository.thread(tx.driver, acting_user(actor), message_id, MAX_THREAD)
        if not rows:
            raise NotFound("message not found")
        return _from_rows(rows)

    async def delete(self, actor: Actor, message_id: uuid.UUID) -> None:
        """Soft delete: hidden from reads; replies keep pointing at it."""
        async with self._database.driver_transaction(as_principal(actor)) as tx:
            if not await repository.soft_delete(tx.driver, acting_user(actor), message_id):
                raise NotFound("message not found")

"""Conversations: create, rename, archive, soft delete, list newest first with a cursor."""

from __future__ import annotations

import uuid

from agentkeep.actors import Actor, acting_user, as_principal
from agentkeep.conversations import repository
from agentkeep.conversations.models import Conversation, ConversationUpdate, NewConversation
from agentkeep.database.engine import Database
from agentkeep.errors import NotFound
from agentkeep.ids import new_id
from agentkeep.pagination import Page, checked_limit, page_of


class ConversationService:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def create(self, actor: Actor, new: NewConversation | None = None) -> Conversation:
        new = new or NewConversation()
        values = new.model_dump() | {"user_id": acting_user(actor), "id": new_id()}
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.insert(tx.conn, values)
        return Conversation.model_validate(dict(row))

    async def get(self, actor: Actor, conversation_id: uuid.UUID) -> Conversation:
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.get(tx.conn, acting_user(actor), conversation_id)
        if row is None:
            raise NotFound("conversation not found")
        return Conversation.model_validate(dict(row))

    async def list(
        self,
        actor: Actor,
        *,
        archived: bool | None = False,
        before: uuid.UUID | None = None,
        limit: int = 20,
    ) -> Page[Conversation]:
        """Newest first. ``archived=None`` lists archived and live ones together."""
        limit = checked_limit(limit)
        async with self._database.transaction(as_principal(actor)) as tx:
            rows = await repository.list_page(
                tx.conn, acting_user(actor), archived=archived, before=before, limit=limit + 1
            )
        return page_of(rows, limit, lambda page: [Conversation.model_validate(dict(row)) for row in page])

    async def update(
        self, actor: Actor, conversation_id: uuid.UUID, changes: ConversationUpdate
    ) -> Conversation:
        """Change what ``changes`` sets, if the conversation is still at ``changes.version``
        (StaleVersion otherwise). Setting nothing changes nothing, the version included."""
        values = changes.model_dump(exclude={"version"}, exclude_unset=True)
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.update(
                tx.conn, acting_user(actor), conversation_id, changes.version, values
            )
        return Conversation.model_validate(dict(row))

    async def rename(
        self, actor: Actor, conversation_id: uuid.UUID, title: str | None, *, version: int
    ) -> Conversation:
        return await self.update(actor, conversation_id, ConversationUpdate(title=title, version=version))

    async def archive(
        self, actor: Actor, conversation_id: uuid.UUID, *, version: int, archived: bool = True
    ) -> Conversation:
        return await self.update(
            actor, conversation_id, ConversationUpdate(is_archived=archived, version=version)
        )

    async def delete(self, actor: Actor, conversation_id: uuid.UUID) -> None:
        """Soft delete: hidden at once, erased with its messages by retention later."""
        async with self._database.transaction(as_principal(actor)) as tx:
            if not await repository.soft_delete(tx.conn, acting_user(actor), conversation_id):
                raise NotFound("conversation not found")

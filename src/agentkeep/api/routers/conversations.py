"""/api/conversations: the caller's conversations, newest first with a cursor.

OpenAI's Conversations API shape will live beside this at /v1/conversations.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from agentkeep.api.dependencies import KeepDep, UserPrincipalDep
from agentkeep.conversations.models import Conversation, ConversationUpdate, NewConversation
from agentkeep.pagination import MAX_PAGE_SIZE, Page

router = APIRouter(prefix="/api/conversations", tags=["conversations"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_conversation(
    keep: KeepDep, principal: UserPrincipalDep, new: NewConversation | None = None
) -> Conversation:
    return await keep.conversations.create(principal, new)


@router.get("")
async def list_conversations(
    keep: KeepDep,
    principal: UserPrincipalDep,
    archived: Annotated[
        Literal["false", "true", "any"],
        Query(description="false (the default): live ones; true: archived ones; any: both"),
    ] = "false",
    before: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
) -> Page[Conversation]:
    wanted = {"false": False, "true": True, "any": None}[archived]
    return await keep.conversations.list(principal, archived=wanted, before=before, limit=limit)


@router.get("/{conversation_id}")
async def get_conversation(
    keep: KeepDep, principal: UserPrincipalDep, conversation_id: uuid.UUID
) -> Conversation:
    return await keep.conversations.get(principal, conversation_id)


@router.patch("/{conversation_id}")
async def update_conversation(
    keep: KeepDep, principal: UserPrincipalDep, conversation_id: uuid.UUID, changes: ConversationUpdate
) -> Conversation:
    """Rename, archive or unarchive, change metadata. Send the version you read to guard."""
    return await keep.conversations.update(principal, conversation_id, changes)


@router.delete("/{conversation_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_conversation(keep: KeepDep, principal: UserPrincipalDep, conversation_id: uuid.UUID) -> None:
    await keep.conversations.delete(principal, conversation_id)

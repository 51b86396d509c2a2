"""Messages of a conversation: append one or a batch, latest N, pages, threads."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import Field

from agentkeep.api.dependencies import KeepDep, UserPrincipalDep
from agentkeep.messages.models import Message, NewMessage
from agentkeep.messages.service import MAX_BATCH
from agentkeep.models import Input
from agentkeep.pagination import MAX_PAGE_SIZE, Page

router = APIRouter(prefix="/api", tags=["messages"])
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


class MessageBatch(Input):
    messages: Annotated[list[NewMessage], Field(min_length=1, max_length=MAX_BATCH)]


def latest_page(messages: list[Message], limit: int) -> Page[Message]:
    return Page[Message](items=messages, next_cursor=messages[0].id if len(messages) == limit else None)


@router.post("/conversations/{conversation_id}/messages", status_code=status.HTTP_201_CREATED)
async def append_message(
    keep: KeepDep, principal: UserPrincipalDep, conversation_id: uuid.UUID, message: NewMessage
) -> Message:
    return await keep.messages.append(principal, conversation_id, message)


@router.post("/conversations/{conversation_id}/messages/batch", status_code=status.HTTP_201_CREATED)
async def append_messages(
    keep: KeepDep, principal: UserPrincipalDep, conversation_id: uuid.UUID, batch: MessageBatch
) -> list[Message]:
    """All of the batch or none of it, in one transaction."""
    return await keep.messages.append_many(principal, conversation_id, batch.messages)


@router.get("/conversations/{conversation_id}/messages")
async def list_messages(
    keep: KeepDep,
    principal: UserPrincipalDep,
    conversation_id: uuid.UUID,
    before: uuid.UUID | None = None,
    after: uuid.UUID | None = None,
    limit: Limit = 50,
    order: Literal["asc", "desc"] = "desc",
) -> Page[Message]:
    return await keep.messages.page(
        principal, conversation_id, before=before, after=after, limit=limit, order=order
    )


@router.get("/conversations/{conversation_id}/messages/latest")
async def latest_messages(
    keep: KeepDep,
    principal: UserPrincipalDep,
    conversation_id: uuid.UUID,
    limit: Limit = 50,
    include_blocked: bool = False,
) -> Page[Message]:
    """The last ``limit`` messages, oldest first.

    When the page is full, next_cursor is the oldest message's id: pass it as ``before`` to the
    messages list for older ones (there may be none).
    """
    found = await keep.messages.latest(principal, conversation_id, limit, include_blocked=include_blocked)
    return latest_page(found, limit)


@router.get("/messages/{message_id}")
async def get_message(keep: KeepDep, principal: UserPrincipalDep, message_id: uuid.UUID) -> Message:
    return await keep.messages.get(principal, message_id)


@router.get("/messages/{message_id}/thread")
async def message_thread(keep: KeepDep, principal: UserPrincipalDep, message_id: uuid.UUID) -> Page[Message]:
    """The whole thread in one page (next_cursor is always null)."""
    return Page[Message](items=await keep.messages.thread(principal, message_id))


@router.delete("/messages/{message_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_message(keep: KeepDep, principal: UserPrincipalDep, message_id: uuid.UUID) -> None:
    await keep.messages.delete(principal, message_id)

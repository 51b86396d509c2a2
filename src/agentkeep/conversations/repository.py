"""SQL for conversations. Takes a connection; never commits."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.conversations.tables import conversations
from agentkeep.database.rows import fetch_one, keyset_before, update_versioned

COLUMNS = [c for c in conversations.c if c.name != "deleted_at"]


async def insert(conn: AsyncConnection, values: Mapping[str, Any]) -> sa.RowMapping:
    statement = sa.insert(conversations).values(**values).returning(*COLUMNS)
    return (await conn.execute(statement)).mappings().one()


async def get(conn: AsyncConnection, user_id: uuid.UUID, conversation_id: uuid.UUID) -> sa.RowMapping | None:
    return await fetch_one(conn, conversations, {"user_id": user_id, "id": conversation_id}, COLUMNS)


async def list_page(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    *,
    archived: bool | None,
    before: uuid.UUID | None,
    limit: int,
) -> list[sa.RowMapping]:
    """Newest first; ``before`` is the id of the last row of the previous page."""
    statement = sa.select(*COLUMNS).where(
        conversations.c.user_id == user_id,
        conversations.c.deleted_at.is_(None),
        keyset_before(conversations, before),
    )
    if archived is not None:
        statement = statement.where(conversations.c.is_archived == archived)
    result = await conn.execute(statement.order_by(conversations.c.id.desc()).limit(limit))
    return list(result.mappings())


async def update(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    version: int,
    changes: Mapping[str, Any],
) -> sa.RowMapping:
    """Apply ``changes`` if the conversation is still at ``version``; bumps the version.

    No changes write nothing and leave the version as it is (update_versioned), with the same
    refusals (missing, or a stale version) an update would give.
    """
    key = {"user_id": user_id, "id": conversation_id}
    return await update_versioned(conn, conversations, key, version, changes, COLUMNS, what="conversation")


async def soft_delete(conn: AsyncConnection, user_id: uuid.UUID, conversation_id: uuid.UUID) -> bool:
    """Hide the conversation; its messages go with it (every message read checks the parent)."""
    statement = (
        sa.update(conversations)
        .where(
            conversations.c.user_id == user_id,
            conversations.c.id == conversation_id,
            conversations.c.deleted_at.is_(None),
        )
        .values(deleted_at=sa.func.now(), version=conversations.c.version + 1)
        .returning(conversations.c.id)
    )
    return (await conn.execute(statement)).scalar_one_or_none() is not None

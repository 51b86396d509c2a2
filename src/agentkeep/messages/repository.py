"""SQL for messages, run on asyncpg directly: these are the hot paths (docs/benchmarks.md).

Takes the transaction's asyncpg connection; never commits. JSON columns go in as JSON text
(the json/jsonb codecs on every connection, SQLAlchemy's or Database.driver_transaction's, take
text and give back Python objects).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from agentkeep.database.jsonb import dumps

# The select list of every read below, in the field order of models.Message (a row unpacks into
# it). Interpolating this constant is the only formatting these queries get: no value ever is.
COLUMNS = (
    "id, user_id, conversation_id, parent_message_id, agent_session_id, role, message_type, content, "
    "agent_name, reasoning_trace, ethical_validation, metadata, token_count, model_used, created_at"
)

# The SELECT from conversations makes appending to a missing or deleted conversation insert
# nothing, in the same round trip as the insert.
INSERT_ONE = """
INSERT INTO messages (user_id, id, conversation_id, parent_message_id, agent_session_id, role, message_type,
                      content, agent_name, reasoning_trace, ethical_validation, metadata, token_count,
                      model_used)
SELECT $1, $2, c.id, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14
FROM conversations c
WHERE c.user_id = $1 AND c.id = $3 AND c.deleted_at IS NULL
RETURNING created_at
"""

# Arrays in, one statement: PostgreSQL refuses COPY FROM on tables under row-level security.
# unnest pads a shorter array with NULLs, and a NULL array counts as empty: a column that is NULL
# in every message of the batch is sent as one NULL instead of an array of them (see _column).
INSERT_MANY = """
WITH inserted AS (
    INSERT INTO messages (user_id, id, conversation_id, parent_message_id, agent_session_id, role,
                          message_type, content, agent_name, reasoning_trace, ethical_validation,
                          metadata, token_count, model_used)
    SELECT $1, m.id, c.id, m.parent_message_id, m.agent_session_id, m.role, m.message_type, m.content,
           m.agent_name, m.reasoning_trace, m.ethical_validation, coalesce(m.metadata, '{}'),
           m.token_count, m.model_used
    FROM conversations c,
         unnest($3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::text[], $8::text[], $9::text[],
                $10::jsonb[], $11::jsonb[], $12::jsonb[], $13::int[], $14::text[])
             AS m(id, parent_message_id, agent_session_id, role, message_type, content, agent_name,
                  reasoning_trace, ethical_validation, metadata, token_count, model_used)
    WHERE c.user_id = $1 AND c.id = $2 AND c.deleted_at IS NULL
    RETURNING 1
)
SELECT count(*) AS inserted, now() AS created_at FROM inserted
"""

LATEST = f"""
SELECT {COLUMNS} FROM messages
WHERE user_id = $1 AND conversation_id = $2 AND deleted_at IS NULL
ORDER BY id DESC
LIMIT $3
"""  # noqa: S608

BEFORE = f"""
SELECT {COLUMNS} FROM messages
WHERE user_id = $1 AND conversation_id = $2 AND id < $3 AND deleted_at IS NULL
ORDER BY id DESC
LIMIT $4
"""  # noqa: S608

AFTER = f"""
SELECT {COLUMNS} FROM messages
WHERE user_id = $1 AND conversation_id = $2 AND id > $3 AND deleted_at IS NULL
ORDER BY id
LIMIT $4
"""  # noqa: S608

FIRST = f"""
SELECT {COLUMNS} FROM messages
WHERE user_id = $1 AND conversation_id = $2 AND deleted_at IS NULL
ORDER BY id
LIMIT $3
"""  # noqa: S608

GET = f"SELECT {COLUMNS} FROM messages WHERE user_id = $1 AND id = $2 AND deleted_at IS NULL"  # noqa: S608

# The path from the root to the message, then every reply below it, oldest first.
THREAD = f"""
WITH RECURSIVE
ancestors AS (
    SELECT * FROM messages WHERE user_id = $1 AND id = $2 AND deleted_at IS NULL
    UNION ALL
    SELECT p.* FROM messages p JOIN ancestors a ON p.user_id = a.user_id AND p.id = a.parent_message_id
),
descendants AS (
    SELECT m.* FROM messages m JOIN ancestors a
        ON a.id = $2 AND m.user_id = a.user_id AND m.conversation_id = a.conversation_id
       AND m.parent_message_id = a.id
    UNION ALL
    SELECT c.* FROM messages c JOIN descendants d
        ON c.user_id = d.user_id AND c.conversation_id = d.conversation_id AND c.parent_message_id = d.id
)
SELECT {COLUMNS} FROM (SELECT * FROM ancestors UNION SELECT * FROM descendants) t
WHERE deleted_at IS NULL
ORDER BY id
LIMIT $3
"""  # noqa: S608

SOFT_DELETE = """
UPDATE messages SET deleted_at = now()
WHERE user_id = $1 AND id = $2 AND deleted_at IS NULL
RETURNING id
"""


def _json(value: Any) -> str | None:
    return None if value is None else dumps(value)


async def insert_one(
    driver: asyncpg.Connection, user_id: uuid.UUID, message_id: uuid.UUID, conversation_id: uuid.UUID, m: Any
) -> datetime | None:
    """Insert one message; returns its created_at, or None if the conversation is not there."""
    return await driver.fetchval(  # type: ignore[no-any-return]
        INSERT_ONE,
        user_id,
        message_id,
        conversation_id,
        m.parent_message_id,
        m.agent_session_id,
        m.role,
        m.message_type,
        m.content,
        m.agent_name,
        _json(m.reasoning_trace),
        _json(m.ethical_validation),
        _json(m.metadata),
        m.token_count,
        m.model_used,
    )


def _column(values: list[Any]) -> list[Any] | None:
    """An array for INSERT_MANY, or None when every value is NULL: asyncpg checks and encodes
    each element of an array, and most columns of most batches are all NULL."""
    for value in values:
        if value is not None:
            return values
    return None


async def insert_many(
    driver: asyncpg.Connection,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    ids: Sequence[uuid.UUID],
    batch: Sequence[Any],
) -> tuple[int, datetime]:
    row = await driver.fetchrow(
        INSERT_MANY,
        user_id,
        conversation_id,
        ids,
        _column([m.parent_message_id for m in batch]),
        _column([m.agent_session_id for m in batch]),
        [m.role for m in batch],
        [m.message_type for m in batch],
        [m.content for m in batch],
        _column([m.agent_name for m in batch]),
        _column([_json(m.reasoning_trace) for m in batch]),
        _column([_json(m.ethical_validation) for m in batch]),
        _column([None if not m.metadata else _json(m.metadata) for m in batch]),  # NULL is {}
        _column([m.token_count for m in batch]),
        _column([m.model_used for m in batch]),
    )
    assert row is not None
    return row["inserted"], row["created_at"]


async def latest(
    driver: asyncpg.Connection, user_id: uuid.UUID, conversation_id: uuid.UUID, limit: int
) -> list[asyncpg.Record]:
    """Newest first."""
    rows: list[asyncpg.Record] = await driver.fetch(LATEST, user_id, conversation_id, limit)
    return rows


async def before(
    driver: asyncpg.Connection, user_id: uuid.UUID, conversation_id: uuid.UUID, cursor: uuid.UUID, limit: int
) -> list[asyncpg.Record]:
    """Newest first, strictly older than ``cursor``."""
    rows: list[asyncpg.Record] = await driver.fetch(BEFORE, user_id, conversation_id, cursor, limit)
    return rows


async def after(
    driver: asyncpg.Connection,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    cursor: uuid.UUID | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Oldest first, strictly newer than ``cursor`` (from the start when None)."""
    if cursor is None:
        first: list[asyncpg.Record] = await driver.fetch(FIRST, user_id, conversation_id, limit)
        return first
    rows: list[asyncpg.Record] = await driver.fetch(AFTER, user_id, conversation_id, cursor, limit)
    return rows


async def get(driver: asyncpg.Connection, user_id: uuid.UUID, message_id: uuid.UUID) -> asyncpg.Record | None:
    return await driver.fetchrow(GET, user_id, message_id)


async def thread(
    driver: asyncpg.Connection, user_id: uuid.UUID, message_id: uuid.UUID, limit: int
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await driver.fetch(THREAD, user_id, message_id, limit)
    return rows


async def soft_delete(driver: asyncpg.Connection, user_id: uuid.UUID, message_id: uuid.UUID) -> bool:
    return await driver.fetchval(SOFT_DELETE, user_id, message_id) is not None

"""SQL for user sessions. Takes a connection; never commits."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.database.rows import keyset_before
from agentkeep.user_sessions.tables import user_sessions

COLUMNS = [
    *(c for c in user_sessions.c if c.name not in {"token_hash", "ip_address", "created_at", "updated_at"}),
    sa.func.host(user_sessions.c.ip_address).label("ip_address"),
]


async def insert(conn: AsyncConnection, values: Mapping[str, Any]) -> sa.RowMapping:
    result = await conn.execute(sa.insert(user_sessions).values(**values).returning(*COLUMNS))
    return result.mappings().one()


async def by_token(conn: AsyncConnection, user_id: uuid.UUID, token_hash: bytes) -> sa.RowMapping | None:
    statement = sa.select(*COLUMNS, (user_sessions.c.expires_at <= sa.func.now()).label("is_overdue")).where(
        user_sessions.c.user_id == user_id, user_sessions.c.token_hash == token_hash
    )
    return (await conn.execute(statement)).mappings().one_or_none()


async def get(conn: AsyncConnection, user_id: uuid.UUID, session_id: uuid.UUID) -> sa.RowMapping | None:
    statement = sa.select(*COLUMNS).where(
        user_sessions.c.user_id == user_id, user_sessions.c.id == session_id
    )
    return (await conn.execute(statement)).mappings().one_or_none()


async def list_for_user(
    conn: AsyncConnection, user_id: uuid.UUID, *, active_only: bool, before: uuid.UUID | None, limit: int
) -> list[sa.RowMapping]:
    statement = sa.select(*COLUMNS).where(
        user_sessions.c.user_id == user_id, keyset_before(user_sessions, before)
    )
    if active_only:
        statement = statement.where(user_sessions.c.status == "active")
    result = await conn.execute(statement.order_by(user_sessions.c.id.desc()).limit(limit))
    return list(result.mappings())


async def touch(conn: AsyncConnection, user_id: uuid.UUID, session_id: uuid.UUID) -> sa.RowMapping:
    statement = (
        sa.update(user_sessions)
        .where(user_sessions.c.user_id == user_id, user_sessions.c.id == session_id)
        .values(last_activity_at=sa.func.now())
        .returning(*COLUMNS)
    )
    return (await conn.execute(statement)).mappings().one()


async def close(
    conn: AsyncConnection, user_id: uuid.UUID, session_id: uuid.UUID, status: str
) -> sa.RowMapping | None:
    """Move an active session to ``status`` (ended, expired, revoked); None if it was not active."""
    statement = (
        sa.update(user_sessions)
        .where(
            user_sessions.c.user_id == user_id,
            user_sessions.c.id == session_id,
            user_sessions.c.status == "active",
        )
        .values(status=status, ended_at=sa.func.now(), version=user_sessions.c.version + 1)
        .returning(*COLUMNS)
    )
    return (await conn.execute(statement)).mappings().one_or_none()


async def expire_overdue(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    statement = (
        sa.update(user_sessions)
        .where(
            user_sessions.c.user_id == user_id,
            user_sessions.c.status == "active",
            user_sessions.c.expires_at <= sa.func.now(),
        )
        .values(status="expired", ended_at=sa.func.now(), version=user_sessions.c.version + 1)
    )
    return (await conn.execute(statement)).rowcount

"""SQL for users. Takes a connection; never commits."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.access_keys.tables import api_keys
from agentkeep.agent_sessions.status import TERMINAL
from agentkeep.agent_sessions.tables import agent_sessions
from agentkeep.conversations.tables import conversations
from agentkeep.database.rows import fetch_one, update_versioned
from agentkeep.user_sessions.tables import user_sessions
from agentkeep.users.tables import user_emails, user_usernames, users

# The password hash never leaves the database layer; callers see only whether there is one.
COLUMNS = [
    *(column for column in users.c if column.name not in {"password_hash", "deleted_at"}),
    users.c.password_hash.is_not(None).label("has_password"),
]


async def insert(conn: AsyncConnection, values: Mapping[str, Any]) -> sa.RowMapping:
    result = await conn.execute(sa.insert(users).values(**values).returning(*COLUMNS))
    return result.mappings().one()


async def get(conn: AsyncConnection, user_id: uuid.UUID) -> sa.RowMapping | None:
    return await fetch_one(conn, users, {"user_id": user_id}, COLUMNS)


async def is_live(conn: AsyncConnection, user_id: uuid.UUID) -> bool:
    """The user is there and not deleted (under RLS: only when acting for that user)."""
    statement = sa.select(sa.exists().where(users.c.user_id == user_id, users.c.deleted_at.is_(None)))
    return bool((await conn.execute(statement)).scalar_one())


async def password_hash(conn: AsyncConnection, user_id: uuid.UUID) -> str | None:
    statement = sa.select(users.c.password_hash).where(
        users.c.user_id == user_id, users.c.deleted_at.is_(None)
    )
    return (await conn.execute(statement)).scalar_one_or_none()


async def update(
    conn: AsyncConnection, user_id: uuid.UUID, version: int | None, changes: Mapping[str, Any]
) -> sa.RowMapping:
    return await update_versioned(conn, users, {"user_id": user_id}, version, changes, COLUMNS, what="user")


async def touch(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    await conn.execute(
        sa.update(users).where(users.c.user_id == user_id).values(last_active_at=sa.func.now())
    )


async def soft_delete(conn: AsyncConnection, user_id: uuid.UUID) -> bool:
    statement = (
        sa.update(users)
        .where(users.c.user_id == user_id, users.c.deleted_at.is_(None))
        .values(deleted_at=sa.func.now(), is_active=False, version=users.c.version + 1)
        .returning(users.c.user_id)
    )
    return (await conn.execute(statement)).scalar_one_or_none() is not None


def _retirements(user_id: uuid.UUID) -> list[sa.Update]:
    """What a deleted user leaves behind, made unreachable or unusable.

    Conversations are soft-deleted (their messages go with them: every message read checks its
    conversation); API keys are revoked; active sessions are revoked; agent sessions that have
    not ended are cancelled (the status machine allows it from every such status). All rows stay
    until retention erases them.
    """
    now = sa.func.now()
    return [
        sa.update(conversations)
        .where(conversations.c.user_id == user_id, conversations.c.deleted_at.is_(None))
        .values(deleted_at=now, version=conversations.c.version + 1),
        sa.update(api_keys)
        .where(api_keys.c.user_id == user_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now),
        sa.update(user_sessions)
        .where(user_sessions.c.user_id == user_id, user_sessions.c.status == "active")
        .values(status="revoked", ended_at=now, version=user_sessions.c.version + 1),
        sa.update(agent_sessions)
        .where(agent_sessions.c.user_id == user_id, agent_sessions.c.status.not_in(sorted(TERMINAL)))
        .values(status="cancelled", version=agent_sessions.c.version + 1),
    ]


async def retire_belongings(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    """Run with :func:`soft_delete`, in its transaction (a rare operation: one statement each)."""
    for statement in _retirements(user_id):
        await conn.execute(statement)


async def claim_handles(conn: AsyncConnection, user_id: uuid.UUID, email: str, username: str | None) -> None:
    """Take the user's e-mail and username; one held by another live user is a unique violation."""
    await conn.execute(sa.insert(user_emails).values(email=sa.func.lower(email), user_id=user_id))
    if username is not None:
        await conn.execute(
            sa.insert(user_usernames).values(username=sa.func.lower(username), user_id=user_id)
        )


async def release_handles(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    """Free the user's e-mail and username for others (deleted, or about to claim new ones)."""
    for table in (user_emails, user_usernames):
        await conn.execute(sa.delete(table).where(table.c.user_id == user_id))

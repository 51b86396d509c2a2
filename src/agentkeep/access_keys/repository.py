"""SQL for API keys (user rows, under RLS) and service keys (operator rows)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.access_keys.tables import api_keys, service_keys
from agentkeep.users.tables import users

API_KEY_COLUMNS = [c for c in api_keys.c if c.name not in {"secret_hash", "updated_at"}]
SERVICE_KEY_COLUMNS = [c for c in service_keys.c if c.name not in {"secret_hash", "updated_at"}]


def _usable(table: sa.Table) -> sa.ColumnElement[bool]:
    return sa.and_(
        table.c.revoked_at.is_(None),
        sa.or_(table.c.expires_at.is_(None), table.c.expires_at > sa.func.now()),
    )


async def insert_api_key(conn: AsyncConnection, values: Mapping[str, Any]) -> sa.RowMapping:
    statement = sa.insert(api_keys).values(**values).returning(*API_KEY_COLUMNS)
    return (await conn.execute(statement)).mappings().one()


async def insert_service_key(conn: AsyncConnection, values: Mapping[str, Any]) -> sa.RowMapping:
    statement = sa.insert(service_keys).values(**values).returning(*SERVICE_KEY_COLUMNS)
    return (await conn.execute(statement)).mappings().one()


async def find_api_key(conn: AsyncConnection, user_id: uuid.UUID, secret_hash: bytes) -> uuid.UUID | None:
    """A usable key of a user who is still there: deleting or deactivating a user stops its keys."""
    statement = (
        sa.select(api_keys.c.id)
        .join(users, users.c.user_id == api_keys.c.user_id)
        .where(
            api_keys.c.user_id == user_id,
            api_keys.c.secret_hash == secret_hash,
            _usable(api_keys),
            users.c.deleted_at.is_(None),
            users.c.is_active,
        )
    )
    return (await conn.execute(statement)).scalar_one_or_none()


async def find_service_key(conn: AsyncConnection, secret_hash: bytes) -> uuid.UUID | None:
    statement = sa.select(service_keys.c.id).where(
        service_keys.c.secret_hash == secret_hash, _usable(service_keys)
    )
    return (await conn.execute(statement)).scalar_one_or_none()


async def list_api_keys(conn: AsyncConnection, user_id: uuid.UUID) -> list[sa.RowMapping]:
    statement = sa.select(*API_KEY_COLUMNS).where(api_keys.c.user_id == user_id).order_by(api_keys.c.id)
    return list((await conn.execute(statement)).mappings())


async def revoke_api_key(
    conn: AsyncConnection, user_id: uuid.UUID, key_id: uuid.UUID
) -> sa.RowMapping | None:
    statement = (
        sa.update(api_keys)
        .where(api_keys.c.user_id == user_id, api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=sa.func.now())
        .returning(*API_KEY_COLUMNS)
    )
    return (await conn.execute(statement)).mappings().one_or_none()


async def count_service_keys(conn: AsyncConnection) -> int:
    return (await conn.execute(sa.select(sa.func.count()).select_from(service_keys))).scalar_one()

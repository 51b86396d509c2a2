"""SQL for provider_api_keys. Takes a connection; never commits."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.provider_keys.tables import provider_api_keys

SHOWN = [provider_api_keys.c[name] for name in ("provider", "key_last4", "created_at", "updated_at")]


async def upsert(conn: AsyncConnection, values: Mapping[str, Any]) -> sa.RowMapping:
    insert = pg_insert(provider_api_keys).values(**values)
    statement = insert.on_conflict_do_update(
        index_elements=[provider_api_keys.c.user_id, provider_api_keys.c.provider],
        set_={"encrypted_key": insert.excluded.encrypted_key, "key_last4": insert.excluded.key_last4},
    ).returning(*SHOWN)
    return (await conn.execute(statement)).mappings().one()


async def list_all(conn: AsyncConnection, user_id: uuid.UUID) -> list[sa.RowMapping]:
    statement = (
        sa.select(*SHOWN).where(provider_api_keys.c.user_id == user_id).order_by(provider_api_keys.c.provider)
    )
    return list((await conn.execute(statement)).mappings())


async def envelope(conn: AsyncConnection, user_id: uuid.UUID, provider: str) -> bytes | None:
    statement = sa.select(provider_api_keys.c.encrypted_key).where(
        provider_api_keys.c.user_id == user_id, provider_api_keys.c.provider == provider
    )
    value = (await conn.execute(statement)).scalar_one_or_none()
    return None if value is None else bytes(value)


async def delete(conn: AsyncConnection, user_id: uuid.UUID, provider: str) -> bool:
    statement = (
        sa.delete(provider_api_keys)
        .where(provider_api_keys.c.user_id == user_id, provider_api_keys.c.provider == provider)
        .returning(provider_api_keys.c.provider)
    )
    return (await conn.execute(statement)).scalar_one_or_none() is not None

"""SQL for API keys (user rows, under RLS), service keys and operator keys (operator rows)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.access_keys.tables import api_keys, operator_keys, service_keys
from agentkeep.users.tables import users

API_KEY_COLUMNS = [c for c in api_keys.c if c.name not in {"secret_hash", "updated_at"}]
SERVICE_KEY_COLUMNS = [c for c in service_keys.c if c.name not in {"secret_hash", "updated_at"}]
OPERATOR_KEY_COLUMNS = [c for c in operator_keys.c if c.name not in {"secret_hash", "updated_at"}]
LAST_USED_PRECISION = timedelta(minutes=1)
"""How stale ``last_used_at`` may be: it is rewritten at most this often per key."""


def _usable(table: sa.Table) -> sa.ColumnElement[bool]:
    return sa.and_(
        table.c.revoked_at.is_(None),
        sa.or_(table.c.expires_at.is_(None), table.c.expires_at > sa.func.now()),
    )


def _row_of(table: sa.Table, values: Mapping[str, Any]) -> sa.Select[Any]:
    """``SELECT :a, :b, …``: a row to INSERT … SELECT under a condition, typed like the table."""
    return sa.select(
        *(sa.bindparam(f"new_{name}", value, type_=table.c[name].type) for name, value in values.items())
    )


async def insert_api_key(conn: AsyncConnection, values: Mapping[str, Any]) -> sa.RowMapping | None:
    """Insert a key of a user who is still there; None, and nothing written, when the user is not.

    One statement (INSERT … SELECT … WHERE EXISTS), so no key is made for a user deleted between
    a check and the insert.
    """
    user_is_live = sa.exists().where(users.c.user_id == values["user_id"], users.c.deleted_at.is_(None))
    row = _row_of(api_keys, values).where(user_is_live)
    statement = sa.insert(api_keys).from_select(list(values), row).returning(*API_KEY_COLUMNS)
    return (await conn.execute(statement)).mappings().one_or_none()


async def insert_service_key(conn: AsyncConnection, values: Mapping[str, Any]) -> sa.RowMapping:
    statement = sa.insert(service_keys).values(**values).returning(*SERVICE_KEY_COLUMNS)
    return (await conn.execute(statement)).mappings().one()


async def insert_first_service_key(conn: AsyncConnection, values: Mapping[str, Any]) -> sa.RowMapping | None:
    """Insert a service key only if there is none yet (a first run); None, nothing written, otherwise.

    ``ON CONFLICT (id) DO NOTHING`` never acts (the id is new) but is what makes this statement
    run on Citus: only an upsert gets its target aliased when Citus sends it to the nodes, and
    without the alias the returned columns name a table the sub-select has renamed ("missing
    FROM-clause entry for table service_keys").
    """
    none_yet = ~sa.exists().select_from(service_keys)
    row = _row_of(service_keys, values).where(none_yet)
    statement = (
        pg_insert(service_keys)
        .from_select(list(values), row)
        .on_conflict_do_nothing(index_elements=[service_keys.c.id])
        .returning(*SERVICE_KEY_COLUMNS)
    )
    return (await conn.execute(statement)).mappings().one_or_none()


async def use_api_key(conn: AsyncConnection, user_id: uuid.UUID, secret_hash: bytes) -> uuid.UUID | None:
    """The id of a usable key of a user who is still there, noting that it was used.

    Deleting or deactivating a user stops its keys. ``last_used_at`` is written in the same
    statement (a data-modifying CTE, so authenticating stays one round trip) and only when it is
    older than LAST_USED_PRECISION: a busy key is not rewritten, nor its row locked, per request.
    The condition is on the updated row itself, so concurrent requests that wait for one another
    re-check it and write once.
    """
    found = (
        sa.select(api_keys.c.id)
        .join(users, users.c.user_id == api_keys.c.user_id)
        .where(
            api_keys.c.user_id == user_id,
            api_keys.c.secret_hash == secret_hash,
            _usable(api_keys),
            users.c.deleted_at.is_(None),
            users.c.is_active,
        )
        .cte("found")
    )
    stale = sa.or_(
        api_keys.c.last_used_at.is_(None),
        api_keys.c.last_used_at < sa.func.now() - sa.literal(LAST_USED_PRECISION, sa.Interval),
    )
    touched = (
        sa.update(api_keys)
        .where(api_keys.c.user_id == user_id, api_keys.c.id.in_(sa.select(found.c.id)), stale)
        .values(last_used_at=sa.func.now())
        .cte("touched")
    )
    statement = sa.select(found.c.id).add_cte(touched)
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


async def insert_operator_key(conn: AsyncConnection, values: Mapping[str, Any]) -> sa.RowMapping:
    statement = sa.insert(operator_keys).values(**values).returning(*OPERATOR_KEY_COLUMNS)
    return (await conn.execute(statement)).mappings().one()


async def find_operator_key(conn: AsyncConnection, secret_hash: bytes) -> uuid.UUID | None:
    statement = sa.select(operator_keys.c.id).where(
        operator_keys.c.secret_hash == secret_hash, _usable(operator_keys)
    )
    return (await conn.execute(statement)).scalar_one_or_none()


async def list_operator_keys(conn: AsyncConnection) -> list[sa.RowMapping]:
    statement = sa.select(*OPERATOR_KEY_COLUMNS).order_by(operator_keys.c.id)
    return list((await conn.execute(statement)).mappings())


async def revoke_operator_key(conn: AsyncConnection, key_id: uuid.UUID) -> sa.RowMapping | None:
    statement = (
        sa.update(operator_keys)
        .where(operator_keys.c.id == key_id, operator_keys.c.revoked_at.is_(None))
        .values(revoked_at=sa.func.now())
        .returning(*OPERATOR_KEY_COLUMNS)
    )
    return (await conn.execute(statement)).mappings().one_or_none()

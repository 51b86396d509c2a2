"""SQL of the vault: key rotation over the registered encrypted columns, and the states of
a user's keys. Takes a connection; never commits.

Statements are SQLAlchemy Core over lightweight ``sa.table`` objects built from the registry's
names (identifiers checked by EncryptedColumn), so no SQL text is assembled here.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.vault.fields import EncryptedColumn
from agentkeep.vault.tables import vault_keys


def _table(column: EncryptedColumn) -> sa.TableClause:
    columns: list[sa.ColumnClause[Any]] = [sa.column(name) for name in column.key_columns]
    return sa.table(column.table, *columns, sa.column(column.column, sa.LargeBinary))


def _version_bytes(versions: Sequence[int]) -> list[bytes]:
    return [struct.pack(">I", version) for version in versions]


def _under(table: sa.TableClause, column: EncryptedColumn, versions: Sequence[int]) -> sa.ColumnElement[bool]:
    """The envelope's key version (bytes 1..4, docs/vault.md) is one of ``versions``."""
    header = sa.func.substring(table.c[column.column], 2, 4, type_=sa.LargeBinary)
    return sa.and_(table.c[column.column].is_not(None), header.in_(_version_bytes(versions)))


async def count_under(
    conn: AsyncConnection, column: EncryptedColumn, user_id: uuid.UUID, versions: Sequence[int]
) -> int:
    table = _table(column)
    statement = (
        sa.select(sa.func.count())
        .select_from(table)
        .where(table.c.user_id == user_id, _under(table, column, versions))
    )
    return int((await conn.execute(statement)).scalar_one())


async def batch_under(
    conn: AsyncConnection,
    column: EncryptedColumn,
    user_id: uuid.UUID,
    versions: Sequence[int],
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[sa.RowMapping]:
    """The next rows (in key order, after ``after``) whose value is under one of ``versions``,
    locked until the batch's transaction ends."""
    table = _table(column)
    keys = [table.c[name] for name in column.row_key_columns]
    statement = sa.select(*keys, table.c[column.column]).where(
        table.c.user_id == user_id, _under(table, column, versions)
    )
    if after is not None:
        statement = statement.where(sa.tuple_(*keys) > sa.tuple_(*after))
    statement = statement.order_by(*keys).limit(limit).with_for_update()
    return list((await conn.execute(statement)).mappings())


async def replace_values(
    conn: AsyncConnection, column: EncryptedColumn, user_id: uuid.UUID, rows: list[dict[str, Any]]
) -> None:
    """Each row's value becomes ``new`` where it still is ``old`` (``rows``: keys, old, new)."""
    if not rows:
        return
    table = _table(column)
    where = [table.c.user_id == sa.bindparam("b_user_id")]
    where += [table.c[name] == sa.bindparam(f"b_{name}") for name in column.row_key_columns]
    where.append(table.c[column.column] == sa.bindparam("b_old", type_=sa.LargeBinary))
    statement = (
        sa.update(table).where(*where).values({column.column: sa.bindparam("b_new", type_=sa.LargeBinary)})
    )
    params = [
        {"b_user_id": user_id, "b_old": row["old"], "b_new": row["new"]}
        | {f"b_{name}": row[name] for name in column.row_key_columns}
        for row in rows
    ]
    await conn.execute(statement, params)


async def key_versions(conn: AsyncConnection, user_id: uuid.UUID, state: str) -> list[int]:
    statement = (
        sa.select(vault_keys.c.version)
        .where(vault_keys.c.user_id == user_id, vault_keys.c.state == state)
        .order_by(vault_keys.c.version)
    )
    return list((await conn.execute(statement)).scalars())


async def lock_active(conn: AsyncConnection, user_id: uuid.UUID) -> int | None:
    """The active version, locked: waits for every transaction sealing under it (FOR SHARE)."""
    statement = (
        sa.select(vault_keys.c.version)
        .where(vault_keys.c.user_id == user_id, vault_keys.c.state == "active")
        .with_for_update()
    )
    return (await conn.execute(statement)).scalar_one_or_none()


async def set_state(conn: AsyncConnection, user_id: uuid.UUID, versions: Sequence[int], state: str) -> None:
    await conn.execute(
        sa.update(vault_keys)
        .where(vault_keys.c.user_id == user_id, vault_keys.c.version.in_(list(versions)))
        .values(state=state)
    )

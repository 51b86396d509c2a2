"""Row operations every versioned table shares: optimistic updates and keyset pages."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.errors import Forbidden, NotFound, StaleVersion


def key_clause(table: sa.Table, key: Mapping[str, Any]) -> sa.ColumnElement[bool]:
    return sa.and_(*(table.c[name] == value for name, value in key.items()))


async def fetch_one(
    conn: AsyncConnection,
    table: sa.Table,
    key: Mapping[str, Any],
    columns: Sequence[sa.ColumnElement[Any]],
    *,
    live_only: bool = True,
) -> sa.RowMapping | None:
    where = key_clause(table, key)
    if live_only and "deleted_at" in table.c:
        where = sa.and_(where, table.c.deleted_at.is_(None))
    result = await conn.execute(sa.select(*columns).where(where))
    return result.mappings().one_or_none()


async def update_versioned(
    conn: AsyncConnection,
    table: sa.Table,
    key: Mapping[str, Any],
    expected_version: int | None,
    changes: Mapping[str, Any],
    columns: Sequence[sa.ColumnElement[Any]],
    *,
    what: str,
) -> sa.RowMapping:
    """Apply ``changes`` if the row is still at ``expected_version`` (None: whatever it is).

    No changes bump no version: the row is returned as it is, after the same checks.

    Raises NotFound when the row is missing (or hidden from this user), StaleVersion when
    someone else changed it since it was read; in both cases nothing is written.
    """
    where = key_clause(table, key)
    if "deleted_at" in table.c:
        where = sa.and_(where, table.c.deleted_at.is_(None))
    guarded = where if expected_version is None else sa.and_(where, table.c.version == expected_version)
    if changes:
        statement: sa.Executable = (
            sa.update(table).where(guarded).values(**changes, version=table.c.version + 1).returning(*columns)
        )
    else:  # nothing to change: the row as it is (version checked), not a new version of it
        statement = sa.select(*columns).where(guarded)
    row = (await conn.execute(statement)).mappings().one_or_none()
    if row is not None:
        return row
    current = (await conn.execute(sa.select(table.c.version).where(where))).scalar_one_or_none()
    if current is None:
        raise NotFound(f"{what} not found")
    if expected_version is None or current == expected_version:
        # Visible and at the right version, yet not updated: a row-level security policy let
        # this principal read the row but not write it (a catalog row and a user key).
        raise Forbidden(f"this principal may read but not change this {what}")
    raise StaleVersion(
        f"{what} is at version {current}, not {expected_version}; read it again and retry",
        field="version",
    )


def keyset_before(table: sa.Table, before: uuid.UUID | None) -> sa.ColumnElement[bool]:
    return sa.true() if before is None else table.c.id < before

"""What agentkeep holds about one user: every user table of the schema, read and removed under
the tenant policies (acting as that user), in an order the foreign keys allow.

Derived from the tables themselves (``agentkeep.schema``), so a table added later is exported
and erased without a list kept here. Takes a connection; never commits.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.audit.tables import AUDIT_TABLES
from agentkeep.database.metadata import CREDENTIAL_COLUMN
from agentkeep.schema import metadata, tables_by_tenancy
from agentkeep.users.tables import users

# Marked CREDENTIAL_COLUMN in their tables: a password's, an API key's or a session token's hash,
# a wrapped data key. Never exported (docs/privacy.md).
CREDENTIAL = next(iter(CREDENTIAL_COLUMN))


def holding_tables() -> list[sa.Table]:
    """The tables a user's data lives in, parents before children: the user tables and the
    handle tables (a user's e-mail and username, keyed by the handle). The audit trail is
    exported apart (it is redacted, not deleted, on erasure)."""
    mine = {table.name for tenancy in ("user", "handle") for table in tables_by_tenancy(tenancy)}
    return [table for table in metadata.sorted_tables if table.name in mine - set(AUDIT_TABLES)]


def withheld_columns(table: sa.Table) -> list[str]:
    return [column.name for column in table.c if column.info.get(CREDENTIAL)]


def exported_columns(table: sa.Table) -> list[sa.Column[Any]]:
    return [column for column in table.c if not column.info.get(CREDENTIAL)]


def _ordering(table: sa.Table) -> list[sa.Column[Any]]:
    return list(table.primary_key.columns)


async def count_rows(conn: AsyncConnection, user_id: uuid.UUID) -> dict[str, int]:
    """Rows per table of ``user_id`` (in one statement: one round trip for every table)."""
    tables = holding_tables()
    counts = [
        sa.select(sa.func.count()).select_from(table).where(table.c.user_id == user_id).scalar_subquery()
        for table in tables
    ]
    row = (await conn.execute(sa.select(*counts))).one()
    return {table.name: int(count) for table, count in zip(tables, row, strict=True)}


async def stream_rows(
    conn: AsyncConnection, table: sa.Table, user_id: uuid.UUID, *, batch: int = 500
) -> AsyncIterator[sa.RowMapping]:
    """``user_id``'s rows of ``table`` in key order, fetched ``batch`` at a time (a server-side
    cursor: a user with millions of messages is not held in memory)."""
    statement = (
        sa.select(*exported_columns(table)).where(table.c.user_id == user_id).order_by(*_ordering(table))
    )
    result = await conn.stream(statement.execution_options(yield_per=batch))
    async for row in result.mappings():
        yield row


async def delete_everything(conn: AsyncConnection, user_id: uuid.UUID, tables: Sequence[sa.Table]) -> None:
    """Delete ``user_id``'s rows, children first. Most go with the users row (their foreign keys
    cascade); the handle tables, distributed by the handle rather than the user (revision 0002),
    have no foreign key and are deleted by name like every other table, which costs nothing when
    the cascade already emptied it."""
    for table in reversed(tables):
        if table is users:
            continue
        await conn.execute(sa.delete(table).where(table.c.user_id == user_id))
    await conn.execute(sa.delete(users).where(users.c.user_id == user_id))

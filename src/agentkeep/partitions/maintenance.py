"""Partition maintenance on the owner's connection: the application role may not create tables.

Which tables are partitioned is read from ``pg_partitioned_table`` (every table of ours in
``public`` partitioned by a range of one column), never from a list kept here, so a table a
later revision converts is maintained without a change to this module. Partitions are made by
the database's ``create_monthly_partition`` (revision 0006), which knows the bounds of each key
type (UUIDv7 ids or dates).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.database.engine import Database
from agentkeep.errors import InvalidInput

# pg_try_advisory_xact_lock key: one server at a time maintains partitions ("partitio" in ASCII).
ENSURE_LOCK_KEY = 0x7061727469746F

PARTITIONED_TABLES = sa.text(
    """
    SELECT c.relname FROM pg_partitioned_table p
    JOIN pg_class c ON c.oid = p.partrelid
    WHERE c.relnamespace = 'public'::regnamespace AND p.partstrat = 'r' AND p.partnatts = 1
      AND NOT c.relispartition
    ORDER BY 1
    """
)
PARTITIONS = sa.text(
    """
    SELECT parent.relname AS table_name, child.relname AS partition_name,
           pg_get_expr(child.relpartbound, child.oid) AS bounds
    FROM pg_inherits i
    JOIN pg_class parent ON parent.oid = i.inhparent
    JOIN pg_class child ON child.oid = i.inhrelid
    WHERE parent.relname = ANY(CAST(:tables AS text[]))
      AND parent.relnamespace = 'public'::regnamespace
    ORDER BY 1, 2
    """
)


@dataclass(frozen=True)
class Partition:
    table: str
    name: str
    month: dt.date | None  # None for a partition not named <table>_YYYY_MM (made by hand)
    bounds: str
    rows: int


def _month_of(table: str, name: str) -> dt.date | None:
    suffix = name.removeprefix(f"{table}_")
    try:
        return dt.datetime.strptime(suffix, "%Y_%m").date() if suffix != name else None
    except ValueError:
        return None


def _add_months(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


def _this_month() -> dt.date:
    return dt.datetime.now(dt.UTC).date().replace(day=1)


async def partitioned_tables(conn: AsyncConnection) -> list[str]:
    return list((await conn.execute(PARTITIONED_TABLES)).scalars())


async def list_partitions(conn: AsyncConnection, table: str | None = None) -> list[Partition]:
    """Every partition of our partitioned tables (or of ``table``), with bounds and exact row counts."""
    tables = await partitioned_tables(conn)
    if table is not None:
        if table not in tables:
            known = ", ".join(tables) or "none"
            raise InvalidInput(f"table {table!r} is not partitioned (partitioned: {known})", field="table")
        tables = [table]
    found = []
    for row in await conn.execute(PARTITIONS, {"tables": tables}):
        # Counted on the partition itself: partitions carry no policies of their own (the
        # parent's apply to reads through it), so the owner sees every row.
        count = await _server_quoted(conn, "SELECT count(*) FROM public.%I", row.partition_name)
        rows = (await conn.execute(sa.text(count))).scalar_one()
        month = _month_of(row.table_name, row.partition_name)
        found.append(Partition(row.table_name, row.partition_name, month, row.bounds, int(rows)))
    return found


async def ensure_partitions(
    conn: AsyncConnection, months: int = 3, today: dt.date | None = None
) -> list[str]:
    """Partitions for this month and the next ``months`` of every partitioned table; the new ones' names."""
    if months < 0:
        raise InvalidInput("months must be 0 or more", field="months")
    start = (today or _this_month()).replace(day=1)
    tables = await partitioned_tables(conn)
    before = {(p.table, p.name) for p in await _partition_names(conn, tables)}
    # A busy parent must not hold this transaction (and a server's start) for long.
    await conn.execute(sa.text("SET LOCAL lock_timeout = '5s'"))
    for table in tables:
        for offset in range(months + 1):
            await conn.execute(
                sa.text("SELECT create_monthly_partition(:table, :month)"),
                {"table": table, "month": _add_months(start, offset)},
            )
    after = await _partition_names(conn, tables)
    return sorted(p.name for p in after if (p.table, p.name) not in before)


async def _partition_names(conn: AsyncConnection, tables: list[str]) -> list[Partition]:
    return [
        Partition(row.table_name, row.partition_name, None, row.bounds, 0)
        for row in await conn.execute(PARTITIONS, {"tables": tables})
    ]


async def ensure_partitions_once(database: Database, months: int = 3) -> list[str] | None:
    """:func:`ensure_partitions` in its own transaction, unless another server is at it (then None)."""
    async with database.owner_transaction() as conn:
        locked = await conn.execute(
            sa.text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": ENSURE_LOCK_KEY}
        )
        if not locked.scalar_one():
            return None
        return await ensure_partitions(conn, months)


async def drop_partition(conn: AsyncConnection, table: str, month: dt.date) -> bool:
    """Detach and drop ``table``'s partition of ``month`` with its rows; False if there is none.

    For retention: the caller archives the rows first. Only partitions named ``<table>_YYYY_MM``.
    """
    name = f"{table}_{month:%Y_%m}"
    exists = await conn.execute(
        sa.text(
            "SELECT EXISTS (SELECT FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = to_regclass(format('public.%I', CAST(:table AS text)))"
            " AND c.relname = :name)"
        ),
        {"table": table, "name": name},
    )
    if not exists.scalar_one():
        return False
    # The partition was checked above to be the table's.
    await conn.execute(
        sa.text(await _server_quoted(conn, "ALTER TABLE public.%I DETACH PARTITION public.%I", table, name))
    )
    await conn.execute(sa.text(await _server_quoted(conn, "DROP TABLE public.%I", name)))
    return True


async def _server_quoted(conn: AsyncConnection, template: str, *identifiers: str) -> str:
    """``template`` with ``identifiers`` quoted by the server's format(%I), not by string formatting."""
    params = {f"p{index}": value for index, value in enumerate(identifiers)}
    arguments = "".join(f", CAST(:p{index} AS text)" for index in range(len(identifiers)))
    statement = await conn.execute(
        sa.text(f"SELECT format(CAST(:template AS text){arguments})"), {"template": template, **params}
    )
    return str(statement.scalar_one())

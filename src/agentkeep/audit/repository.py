"""SQL of the audit trail. Takes a connection; never commits.

Cross-user reads run as the owner acting as operator (the ``*_operator_read`` policies).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.audit.tables import AUDIT_TABLES, OPERATOR_CHAIN, audit_log

# Every chain that has entries, with its length as its head row says (1 without a head row): a
# loose index scan of the primary key, one probe per chain, so a head row removed behind the
# trigger's back still leaves its chain's entries to be read and reported.
CHAINS = """
WITH RECURSIVE chains AS (
    (SELECT a.user_id FROM audit_log AS a ORDER BY a.user_id LIMIT 1)
    UNION ALL
    SELECT (SELECT a.user_id FROM audit_log AS a WHERE a.user_id > chains.user_id ORDER BY a.user_id LIMIT 1)
      FROM chains
     WHERE chains.user_id IS NOT NULL
)
SELECT chains.user_id::text, coalesce(h.seq, 1)
  FROM chains LEFT JOIN audit_chain_heads AS h ON h.user_id = chains.user_id
 WHERE chains.user_id IS NOT NULL
"""
HEADS = "SELECT user_id::text, seq, hash FROM audit_chain_heads ORDER BY user_id"
HEAD_ONE = "SELECT user_id::text, seq, hash FROM audit_chain_heads WHERE user_id = $1"
ACT_AS_OPERATOR = "SET LOCAL agentkeep.principal = 'operator'"

# Each live row against the last entry written for its key: a row no entry knows, a row whose
# image differs from the entry's row_hash, a row the trail says exists but is gone. One query
# for all the tables: the trail is read once (not once per table), the live rows of every table
# are hashed by the server, and at most $3 problems per table come back.
LIVE_ROWS = """
WITH last AS (
    SELECT DISTINCT ON (a.table_name, a.user_id, a.record_key_hash)
           a.table_name, a.user_id, a.seq, a.record_key_hash, a.operation, a.row_hash
      FROM audit_log AS a
     WHERE a.table_name = ANY($1::text[]) AND ($2::uuid IS NULL OR a.user_id = $2)
     ORDER BY a.table_name, a.user_id, a.record_key_hash, a.seq DESC
), live AS (
{live}
), problems AS (
    SELECT coalesce(live.table_name, last.table_name) AS table_name,
           coalesce(live.user_id, last.user_id)::text AS user_id, last.seq, live.key_text,
           CASE WHEN last.seq IS NULL THEN 'live row has no audit entry'
                WHEN live.key_hash IS NULL THEN 'row is gone but its last entry is ' || last.operation
                WHEN last.operation = 'DELETE' THEN 'row exists but its last entry is DELETE'
                ELSE 'live row differs from its last audit entry (changed without the audit trigger)'
           END AS problem
      FROM live FULL JOIN last
        ON live.table_name = last.table_name AND live.user_id = last.user_id
       AND live.key_hash = last.record_key_hash
     WHERE last.seq IS NULL
        OR (live.key_hash IS NULL AND last.operation <> 'DELETE')
        OR (live.key_hash IS NOT NULL
            AND (last.operation = 'DELETE' OR live.row_hash IS DISTINCT FROM last.row_hash))
)
SELECT table_name, user_id, seq, key_text, problem
  FROM (SELECT p.*, row_number() OVER (PARTITION BY p.table_name ORDER BY p.user_id, p.seq) AS n
          FROM problems AS p) AS numbered
 WHERE n <= $3
 ORDER BY table_name, user_id, seq
"""
# Each level is kept apart (OFFSET 0) so that every live row is turned into jsonb, text and
# hashes once, not once per place the planner would otherwise copy the expression to.
LIVE_ROWS_WORK_MEM = "SET LOCAL work_mem = '64MB'"
LIVE_TABLE = """
    SELECT * FROM (
        SELECT '{table}'::text AS table_name, x.user_id, x.key_text,
               sha256(convert_to(x.key_text, 'UTF8')) AS key_hash,
               sha256(convert_to(x.row_text, 'UTF8')) AS row_hash
          FROM (SELECT {chain_user} AS user_id, ({key})::text AS key_text, s.r::text AS row_text
                  FROM (SELECT to_jsonb(t) AS r FROM {table} AS t OFFSET 0) AS s
                 OFFSET 0) AS x
         WHERE $2::uuid IS NULL OR x.user_id = $2
        OFFSET 0) AS {table}_rows"""


_PLAIN_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def audited_tables(metadata: sa.MetaData) -> list[sa.Table]:
    return [table for table in metadata.sorted_tables if table.name not in AUDIT_TABLES]


def _live_table_sql(table: sa.Table) -> str:
    for name in [table.name, *table.primary_key.columns.keys()]:
        if not _PLAIN_IDENTIFIER.fullmatch(name):
            raise ValueError(f"not a plain identifier: {name!r}")
    on_user_chain = table.info.get("tenancy") in ("user", "handle")
    chain_user = "(s.r ->> 'user_id')::uuid" if on_user_chain else f"'{OPERATOR_CHAIN}'::uuid"
    pairs = ", ".join(f"'{column.name}', s.r -> '{column.name}'" for column in table.primary_key.columns)
    return LIVE_TABLE.format(table=table.name, chain_user=chain_user, key=f"jsonb_build_object({pairs})")


def live_rows_sql(tables: Sequence[sa.Table]) -> str:
    """LIVE_ROWS for these tables; identifiers come from the declared metadata, never from input."""
    return LIVE_ROWS.format(live="\n    UNION ALL".join(_live_table_sql(table) for table in tables))


async def driver_of(conn: AsyncConnection) -> asyncpg.Connection[Any]:
    raw = await conn.get_raw_connection()
    driver: asyncpg.Connection[Any] = raw.driver_connection  # type: ignore[assignment]
    return driver


async def act_as_operator(driver: asyncpg.Connection[Any]) -> None:
    await driver.execute(ACT_AS_OPERATOR)


async def count_entries(driver: asyncpg.Connection[Any], user_id: uuid.UUID | None) -> int:
    if user_id is None:
        # The planner's estimate: counting exactly would read the table once more.
        estimate = await driver.fetchval(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = 'audit_log'::regclass"
        )
        return max(int(estimate or 0), 0)
    return int(await driver.fetchval("SELECT count(*) FROM audit_log WHERE user_id = $1", user_id))


async def chains(driver: asyncpg.Connection[Any]) -> list[tuple[str, int]]:
    """Each chain with entries, and about how many it holds."""
    return [(row[0], row[1]) for row in await driver.fetch(CHAINS)]


async def heads(driver: asyncpg.Connection[Any], user_id: uuid.UUID | None) -> dict[str, tuple[int, bytes]]:
    rows = await driver.fetch(HEADS) if user_id is None else await driver.fetch(HEAD_ONE, user_id)
    return {row[0]: (row[1], row[2]) for row in rows}


async def citus_installed(driver: asyncpg.Connection[Any]) -> bool:
    return bool(await driver.fetchval("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')"))


async def live_row_problems(
    driver: asyncpg.Connection[Any], tables: Sequence[sa.Table], user_id: uuid.UUID | None, limit: int
) -> list[asyncpg.Record]:
    """(table, user, seq, key, problem) of at most ``limit`` problems per table."""
    if not tables:
        return []
    names = [table.name for table in tables]
    # Sorting and joining the trail's keys with the live rows' in memory, not in temporary files.
    await driver.execute(LIVE_ROWS_WORK_MEM)
    return list(await driver.fetch(live_rows_sql(tables), names, user_id, limit))


async def redact(driver: asyncpg.Connection[Any], user_id: uuid.UUID) -> int:
    return int(await driver.fetchval("SELECT audit_redact($1)", user_id))


async def trail_page(
    conn: AsyncConnection, user_id: uuid.UUID, *, before: int | None, limit: int
) -> Sequence[sa.RowMapping]:
    columns = [
        c
        for c in audit_log.c
        if c.name not in ("payload_hash", "row_hash", "prev_hash", "entry_hash", "record_key_hash")
    ]
    statement = sa.select(*columns, audit_log.c.entry_hash).where(audit_log.c.user_id == user_id)
    if before is not None:
        statement = statement.where(audit_log.c.seq < before)
    statement = statement.order_by(audit_log.c.seq.desc()).limit(limit)
    return (await conn.execute(statement)).mappings().all()

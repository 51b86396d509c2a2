"""The audit entries streamed for verification: the query that lays out each entry's header and
payload bytes (docs/audit.md, "Canonical encoding"), and the stream itself. Takes a connection;
never commits.

Apart from repository.py so that a verification process (audit/parallel.py) imports asyncpg and
this, not SQLAlchemy and the schema.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

# One field of docs/audit.md's encoding: '-' for NULL, else byte length ':' text. One template
# (no SQL text fragment of its own that reads as END, see tests/test_seed_guarantees.py).
NULLABLE_FIELD_SQL = "CASE WHEN {value} IS NULL THEN '-' ELSE {text} END"


def _required(value: str) -> str:
    """A NOT NULL column's field."""
    return f"octet_length({value})::text || ':' || {value}"


def _field(value: str) -> str:
    """A field that may be NULL. Written out here rather than calling audit_field(): the check
    must not depend on a function stored in the database it checks. ``value`` is a column or a
    text computed once below, so naming it three times costs nothing."""
    return NULLABLE_FIELD_SQL.format(value=value, text=_required(value))


def _uuid(column: str, *, required: bool = False) -> str:
    """A UUID's text is always 36 ASCII bytes: no length to compute."""
    text = f"'36:' || {column}::text"
    return text if required else NULLABLE_FIELD_SQL.format(value=column, text=text)


def _hex(column: str, *, required: bool = False) -> str:
    """A hash in hex: twice its byte length, without encoding it twice to measure it."""
    text = f"(2 * octet_length({column}))::text || ':' || encode({column}, 'hex')"
    return text if required else NULLABLE_FIELD_SQL.format(value=column, text=text)


# The header of docs/audit.md, field by field, from the stored columns; e.* texts that take work
# to make (the chain's user, seq, the microseconds) are made once in the subquery.
_HEADER = (
    "'36:' || e.user_text",
    _required("e.seq_text"),
    _uuid("e.id", required=True),
    _required("e.micros"),
    _field("e.table_name"),
    _hex("e.record_key_hash"),
    _required("e.operation"),
    _required("e.actor"),
    _uuid("e.acting_user_id"),
    _field("e.correlation_id"),
    _field("e.action_type"),
    _field("e.risk_level"),
    _uuid("e.agent_id"),
    _uuid("e.session_id"),
    _hex("e.payload_hash", required=True),
    _hex("e.row_hash"),
    _hex("e.prev_hash", required=True),
)

# chain.py reads these columns by position. The header arrives as the exact bytes docs/audit.md
# defines, laid out by the server from the stored columns (texts are PostgreSQL's own). The
# payload arrives in three parts around new_values' text, which is also what row_hash hashes:
# chain.py hashes the payload, the row and the key with hashlib (a server built without OpenSSL
# hashes at a third of its speed, and the server is the side that is short of time).
# Redacted entries have no payload (its hashes stay in the header). The subquery keeps the
# entries in (user_id, seq) order, read through the primary key, before the texts are made: a
# sort after would sort all those bytes. The lateral subquery (OFFSET 0 keeps it from being
# folded in) turns each jsonb into text once.
ENTRY_STREAM = f"""
SELECT e.user_text, e.seq, e.prev_hash, e.entry_hash,
       convert_to('agentkeep-audit-v1' || {" || ".join(_HEADER)}, 'UTF8'),
       e.payload_hash,
       CASE WHEN e.redacted_at IS NULL THEN convert_to(
            {_field("p.record_text")} || {_field("p.old_text")}
            || CASE WHEN p.new_text IS NULL THEN '-' ELSE octet_length(p.new_text)::text || ':' END,
            'UTF8') END,
       CASE WHEN e.redacted_at IS NULL THEN convert_to(p.new_text, 'UTF8') END,
       CASE WHEN e.redacted_at IS NULL
            THEN convert_to({_field("p.ip_text")} || {_field("e.user_agent")}, 'UTF8') END,
       e.operation IN ('INSERT', 'UPDATE', 'BASELINE'), e.row_hash,
       CASE WHEN e.redacted_at IS NULL THEN convert_to(p.record_text, 'UTF8') END, e.record_key_hash
  FROM (SELECT a.*, a.user_id::text AS user_text, a.seq::text AS seq_text,
               ((extract(epoch FROM a.occurred_at) * 1000000)::bigint)::text AS micros
          FROM audit_log AS a
         WHERE {{where}}
         ORDER BY a.user_id, a.seq
        OFFSET 0) AS e
 CROSS JOIN LATERAL (
       SELECT e.record_id::text AS record_text, e.old_values::text AS old_text,
              e.new_values::text AS new_text, e.ip_address::text AS ip_text
       OFFSET 0
 ) AS p
 ORDER BY e.user_id, e.seq
"""  # noqa: S608 - the fields are the constant column expressions above, never values
STREAM_ALL = ENTRY_STREAM.format(where="true")
STREAM_ONE = ENTRY_STREAM.format(where="a.user_id = $1")
# The chains of a range of users (verification split over several connections: each reads a
# contiguous range of chains, so its part is one range of the primary key, in order).
STREAM_RANGE = ENTRY_STREAM.format(where="a.user_id BETWEEN $1::uuid AND $2::uuid")
# For a range the planner's estimate prefers a (parallel) sequential scan and a sort of every
# entry's bytes, spilled to disk; reading the range through the primary key is already in order.
ORDERED_READ = (
    "SET LOCAL enable_seqscan = off",
    "SET LOCAL enable_bitmapscan = off",
    "SET LOCAL max_parallel_workers_per_gather = 0",
)


async def stream_entries(
    driver: asyncpg.Connection[Any],
    user_id: uuid.UUID | None,
    *,
    between: tuple[str, str] | None = None,
    batch: int = 5_000,
) -> AsyncIterator[list[asyncpg.Record]]:
    """Every entry (of ``user_id``'s chain, or of the chains from ``between[0]`` to
    ``between[1]``) in (user_id, seq) order, in batches, through a server-side cursor (inside a
    transaction). The next batch is asked for before this one is handed out, so the server reads
    it while the caller checks this one."""
    if between is not None:
        for statement in ORDERED_READ:  # SET LOCAL: this transaction only
            await driver.execute(statement)
        cursor = await driver.cursor(STREAM_RANGE, *between)
    elif user_id is not None:
        cursor = await driver.cursor(STREAM_ONE, user_id)
    else:
        cursor = await driver.cursor(STREAM_ALL)
    upcoming = asyncio.ensure_future(cursor.fetch(batch))
    while records := await upcoming:
        upcoming = asyncio.ensure_future(cursor.fetch(batch))
        await asyncio.sleep(0)  # let it send its request before the caller takes the CPU
        yield records

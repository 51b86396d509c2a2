"""A data-subject access request: everything agentkeep holds about one user as one JSON document,
written piece by piece (no table is held in memory whole), encrypted values decrypted.

The document (docs/privacy.md)::

    {"format": "agentkeep-export-v1", "user_id": "…", "exported_at": "…",
     "withheld": {"users": ["password_hash"], …},
     "tables": {"users": [{…}], "conversations": [{…}, …], …},
     "audit_trail": [{…}, …]}

Takes a connection; never commits.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import ipaddress
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.audit.tables import audit_log
from agentkeep.privacy import holdings

FORMAT = "agentkeep-export-v1"
AUDIT_HASHES = ("payload_hash", "row_hash", "prev_hash", "entry_hash", "record_key_hash")

Decrypt = Callable[[str, str, sa.RowMapping, bytes], Awaitable[bytes]]
"""(table, column, row, envelope) -> plaintext, for the columns the vault encrypts."""
Progress = Callable[[int], None]


def _plain(value: Any) -> Any:
    """A JSON value for what the driver returns (json.dumps' ``default``)."""
    if isinstance(value, uuid.UUID | ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | memoryview):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    raise TypeError(f"cannot export a value of type {type(value).__name__}")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_plain, ensure_ascii=False, separators=(",", ":"))


def _text_or_bytes(plaintext: bytes) -> Any:
    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError:
        return plaintext


async def _row_document(
    table: str, row: sa.RowMapping, encrypted: frozenset[str], decrypt: Decrypt | None
) -> dict[str, Any]:
    document = dict(row)
    for column in encrypted:
        envelope = document.get(column)
        if envelope is None or decrypt is None:
            continue
        document[column] = _text_or_bytes(await decrypt(table, column, row, bytes(envelope)))
    return document


async def export_document(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    *,
    encrypted_columns: dict[str, frozenset[str]],
    decrypt: Decrypt | None,
    progress: Progress | None = None,
) -> AsyncIterator[str]:
    """The document in pieces of text, in order; ``progress(n)`` after each n rows."""
    tables = holdings.holding_tables()
    withheld = {table.name: cols for table in tables if (cols := holdings.withheld_columns(table))}
    exported_at = dt.datetime.now(dt.UTC)
    yield (
        f'{{"format":{_dumps(FORMAT)},"user_id":{_dumps(user_id)},"exported_at":{_dumps(exported_at)},'
        f'"withheld":{_dumps(withheld)},"tables":{{'
    )
    for index, table in enumerate(tables):
        yield f"{',' if index else ''}{_dumps(table.name)}:["
        first = True
        encrypted = encrypted_columns.get(table.name, frozenset())
        async for row in holdings.stream_rows(conn, table, user_id):
            yield ("" if first else ",") + _dumps(await _row_document(table.name, row, encrypted, decrypt))
            first = False
            if progress is not None:
                progress(1)
        yield "]"
    yield '},"audit_trail":['
    first = True
    async for entry in _audit_trail(conn, user_id):
        yield ("" if first else ",") + _dumps(entry)
        first = False
        if progress is not None:
            progress(1)
    yield "]}\n"


async def _audit_trail(conn: AsyncConnection, user_id: uuid.UUID) -> AsyncIterator[dict[str, Any]]:
    statement = sa.select(audit_log).where(audit_log.c.user_id == user_id).order_by(audit_log.c.seq)
    result = await conn.stream(statement.execution_options(yield_per=500))
    async for row in result.mappings():
        entry = dict(row)
        for name in AUDIT_HASHES:
            if entry[name] is not None:
                entry[name] = bytes(entry[name]).hex()
        yield entry


async def count_audit_entries(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    statement = sa.select(sa.func.count()).select_from(audit_log).where(audit_log.c.user_id == user_id)
    return int((await conn.execute(statement)).scalar_one())

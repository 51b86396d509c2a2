"""Shared by the partition tests: UUIDv7 ids of a chosen moment, scratch databases, rows."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from agentkeep.database.urls import asyncpg_dsn


def uuid7_at(moment: dt.datetime) -> uuid.UUID:
    """A UUIDv7 made at ``moment``: 48-bit milliseconds, version 7, variant 10, random rest."""
    millis = int(moment.timestamp() * 1000)
    value = (millis << 80) | (0x7 << 76) | (secrets.randbits(12) << 64) | (0b10 << 62) | secrets.randbits(62)
    return uuid.UUID(int=value)


def month_start(year: int, month: int) -> dt.datetime:
    return dt.datetime(year, month, 1, tzinfo=dt.UTC)


@asynccontextmanager
async def connect(url: Any) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        yield conn
    finally:
        await conn.close()


async def add_user_and_conversation(conn: asyncpg.Connection) -> tuple[uuid.UUID, uuid.UUID]:
    """As a superuser (no row-level security): one user and one conversation of theirs."""
    user_id, conversation_id = uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        "INSERT INTO users (user_id, email) VALUES ($1, $2)", user_id, f"{user_id.hex[:12]}@example.com"
    )
    await conn.execute(
        "INSERT INTO conversations (user_id, id, title) VALUES ($1, $2, 'partitions')",
        user_id,
        conversation_id,
    )
    return user_id, conversation_id


async def analyze_like_autovacuum(conn: asyncpg.Connection, table: str) -> None:
    """As the owner: ANALYZE the partitions of ``table`` that hold rows, as autovacuum would.

    ``ANALYZE <table>`` would also record the empty partitions made ahead as empty, which
    autovacuum never does (docs/partitions.md, "latest N").
    """
    leaves = await conn.fetch(
        "SELECT relid::regclass::text AS name FROM pg_partition_tree(to_regclass($1)) WHERE isleaf", table
    )
    for leaf in leaves:
        # Names come from the catalog, quoted by the server.
        quoted = await conn.fetchval("SELECT format('%I', $1::text)", leaf["name"])
        if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {quoted})"):
            await conn.execute(f"ANALYZE {quoted}")


def without_shard_id(name: str) -> str:
    """A partition's (or trigger's) name as read on Citus, ``<name>_<shard id>``, without the id."""
    return re.sub(r"_\d{5,}$", "", name)

"""The fast check of entries (ChainWalker's loop) against the entry-by-entry one (ChainChecker):
the same first break for every kind of tampering, wherever the batches of the stream end, and
the same breaks when the chains are checked in processes over ranges of chains."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg
import pytest

from agentkeep.audit import repository, stream
from agentkeep.audit.chain import Break, ChainChecker, ChainWalker
from agentkeep.audit.service import verify_on
from agentkeep.database import migrate
from agentkeep.database.engine import Database
from agentkeep.database.urls import DatabaseUrls, asyncpg_dsn
from agentkeep.keep import Keep
from agentkeep.schema import SCHEMA
from agentkeep.settings import load_settings
from audit_support import superuser, user_with_rows

pytestmark = pytest.mark.no_citus("tampers as a superuser; on Citus verification uses one connection")

Factory = Callable[[str], AbstractAsyncContextManager[DatabaseUrls]]
FAR = 1_000_000


async def _flip_in_text(conn: asyncpg.Connection, user: uuid.UUID, column: str) -> int:
    """Change one letter inside ``column``'s text of the user's first entry that has it (the
    JSON stays valid); its seq."""
    found = await conn.fetchrow(
        f"SELECT seq, {column}::text FROM audit_log WHERE user_id = $1 AND {column} IS NOT NULL"
        " ORDER BY seq LIMIT 1",
        user,
    )
    assert found is not None, column
    seq, text = found
    at = text.index('": "') + 4  # the first letter of the first string value
    flipped = text[:at] + ("b" if text[at] == "a" else "a") + text[at + 1 :]
    json.loads(flipped)
    await conn.execute(
        f"UPDATE audit_log SET {column} = $3::jsonb WHERE user_id = $1 AND seq = $2", user, seq, flipped
    )
    return int(seq)


async def _swap(conn: asyncpg.Connection, user: uuid.UUID) -> int:
    """Entries 3 and 4 change places (through seqs far away: seq must stay positive)."""
    await conn.execute("UPDATE audit_log SET seq = seq + $2 WHERE user_id = $1 AND seq IN (3, 4)", user, FAR)
    await conn.execute(
        "UPDATE audit_log SET seq = $2 + 7 - seq WHERE user_id = $1 AND seq IN ($2 + 3, $2 + 4)", user, FAR
    )
    return 3


async def _stream(conn: asyncpg.Connection) -> list[Any]:
    rows: list[Any] = []
    async for batch in stream.stream_entries(conn, None):
        rows.extend(batch)
    return rows


def _entry_by_entry(rows: list[Any], heads: dict[str, tuple[int, bytes]]) -> list[Break]:
    breaks: list[Break] = []
    checker: ChainChecker | None = None
    for row in rows:
        if checker is None or checker.user_id != row[0]:
            if checker is not None and (broken := checker.finish(heads.get(checker.user_id))):
                breaks.append(broken)
            checker = ChainChecker(row[0])
        checker.feed(row)
    if checker is not None and (broken := checker.finish(heads.get(checker.user_id))):
        breaks.append(broken)
    return breaks


def _walked(rows: list[Any], heads: dict[str, tuple[int, bytes]], size: int) -> list[Break]:
    walker = ChainWalker(heads, {})
    for start in range(0, len(rows), size):
        walker.feed(rows[start : start + size])
    walker.finish()
    assert walker.entries == len(rows)
    return walker.breaks


async def test_every_batch_split_finds_what_the_entry_by_entry_check_finds(
    keep: Keep, database: Database
) -> None:
    users = [(await user_with_rows(keep, text=f"walk {n}", messages=4)).user_id for n in range(5)]
    async with superuser(database) as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            await conn.execute("SET LOCAL session_replication_role = replica")
            expected = {
                str(users[0]): await _flip_in_text(conn, users[0], "new_values"),
                str(users[1]): await _flip_in_text(conn, users[1], "old_values"),
                str(users[2]): await _swap(conn, users[2]),
                str(users[3]): await _flip_in_text(conn, users[3], "record_id"),
            }
            heads = await repository.heads(conn, None)
            rows = await _stream(conn)
            one = await verify_on(conn, [], None)
        finally:
            await transaction.rollback()
    reference = _entry_by_entry(rows, heads)
    ours = {b.user_id: b.seq for b in reference if b.user_id in expected}
    assert ours == expected  # users[4] untouched
    assert "payload differs" in next(b.problem for b in reference if b.user_id == str(users[1]))
    for size in (1, 2, 3, 7, 50, len(rows)):
        assert _walked(rows, heads, size) == reference, size
    assert one.breaks == sorted(reference, key=lambda broken: broken.user_id)


async def test_processes_name_the_same_links_for_text_flips_and_a_swapped_pair(
    database_factory: Factory,
) -> None:
    async with database_factory("agentkeep_audit_fast_paths") as urls:
        database = Database.from_urls(urls, schema=SCHEMA)
        try:
            await migrate.upgrade(database)
            keep = Keep(database, load_settings())
            users = [(await user_with_rows(keep, text=f"p{n}", messages=3)).user_id for n in range(6)]
            assert urls.superuser is not None
            admin = await asyncpg.connect(asyncpg_dsn(urls.superuser.set(database=urls.owner.database)))
            try:
                await admin.execute("SET session_replication_role = replica")
                await _flip_in_text(admin, users[0], "new_values")
                await _flip_in_text(admin, users[2], "old_values")
                await _swap(admin, users[4])
            finally:
                await admin.close()
            # A saved head beyond the end of an untouched chain: as if it had been cut back.
            saved = await keep.audit.head()
            ahead = saved[str(users[5])]
            saved[str(users[5])] = {"seq": int(str(ahead["seq"])) + 5, "hash": ahead["hash"]}
            one = await keep.audit.verify(connections=1, live_rows=False, against=saved)
            several = await keep.audit.verify(connections=3, live_rows=False, against=saved)
        finally:
            await database.close()
    broken = {str(users[0]), str(users[2]), str(users[4]), str(users[5])}
    assert {b.user_id for b in one.breaks} == broken
    assert [b.seq for b in one.breaks if b.user_id == str(users[4])] == [3]
    assert "rolled back or truncated" in next(b.problem for b in one.breaks if b.user_id == str(users[5]))
    assert several.breaks == one.breaks
    assert (several.entries, several.chains) == (one.entries, one.chains)

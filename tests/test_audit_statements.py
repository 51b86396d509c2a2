"""Inserts audited once per statement (revision 0015, docs/audit.md "How entries are written"):
the triggers each table has, a statement over several chains, the order of a statement's
entries, and a REPEATABLE READ writer that would fork a chain."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from agentkeep.audit.repository import audited_tables
from agentkeep.audit.service import verify_on
from agentkeep.conversations.models import NewConversation
from agentkeep.database.engine import Database, principal_settings
from agentkeep.database.urls import asyncpg_dsn
from agentkeep.ids import new_id
from agentkeep.keep import Keep
from agentkeep.messages.models import NewMessage
from agentkeep.principal import Principal
from agentkeep.schema import metadata
from audit_support import NIL, superuser, user_with_rows

AUDITED = [table.name for table in audited_tables(metadata)]
# pg_trigger.tgtype bits
ROW, INSERT, DELETE, UPDATE = 1, 4, 8, 16

TRIGGERS = """
SELECT t.tgrelid::regclass::text AS table_name, t.tgname, t.tgtype, t.tgfoid::regproc::text AS function,
       t.tgnewtable
  FROM pg_trigger AS t
 WHERE NOT t.tgisinternal AND t.tgparentid = 0 AND t.tgname LIKE 'audit\\_%'
   AND t.tgrelid::regclass::text <> 'audit_log'
"""


@pytest.mark.no_citus("on Citus every change keeps revision 0005's row trigger, run on the workers")
async def test_inserts_have_a_statement_trigger_updates_and_deletes_a_row_trigger(owner: Any) -> None:
    found = {(row["table_name"], row["tgname"]): row for row in await owner.fetch(TRIGGERS)}
    assert {table for table, _name in found} == set(AUDITED)
    for table in AUDITED:
        row_trigger, insert_trigger = (
            found[(table, f"audit_{table}")],
            found[(table, f"audit_{table}_insert")],
        )
        assert (row_trigger["tgtype"], row_trigger["function"]) == (ROW | UPDATE | DELETE, "audit_row")
        assert (insert_trigger["tgtype"], insert_trigger["function"], insert_trigger["tgnewtable"]) == (
            INSERT,
            "audit_insert_statement",
            "audit_new",
        )
    assert len(found) == 2 * len(AUDITED)


async def _chain(conn: asyncpg.Connection, user_id: uuid.UUID, after: int) -> list[tuple[int, str, str]]:
    rows = await conn.fetch(
        "SELECT seq, operation, coalesce(new_values, old_values) ->> 'content' AS content"
        " FROM audit_log WHERE user_id = $1 AND seq > $2 AND table_name = 'messages' ORDER BY seq",
        user_id,
        after,
    )
    return [(row["seq"], row["operation"], row["content"]) for row in rows]


async def test_one_statement_over_two_chains_writes_each_in_its_order(keep: Keep, database: Database) -> None:
    users = [(await user_with_rows(keep, messages=0)).user_id for _ in range(2)]
    chats = [(await keep.conversations.create(user, NewConversation(title="batch"))).id for user in users]
    async with superuser(database) as conn:
        heads = [
            await conn.fetchval("SELECT seq FROM audit_chain_heads WHERE user_id = $1", u) for u in users
        ]
        # Rows of the two users interleaved, in one statement.
        rows = [(users[n % 2], chats[n % 2], new_id(), f"row {n}") for n in range(7)]
        await conn.execute(
            "INSERT INTO messages (user_id, conversation_id, id, role, content)"
            " SELECT u, c, i, 'user', t FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[])"
            " WITH ORDINALITY AS r(u, c, i, t, n) ORDER BY n",
            *map(list, zip(*rows, strict=True)),
        )
        await conn.execute(
            "DELETE FROM messages WHERE user_id = ANY($1) AND content IN ('row 1', 'row 2')", users
        )
        for number, user in enumerate(users):
            mine = [f"row {n}" for n in range(7) if n % 2 == number]
            deleted = [text for text in ("row 1", "row 2") if text in mine]
            written = await _chain(conn, user, heads[number])
            # One entry per row, consecutive, the statement's rows in the order it inserted them.
            assert [seq for seq, _op, _text in written] == list(
                range(heads[number] + 1, heads[number] + 1 + len(mine) + len(deleted))
            )
            assert [(op, text) for _seq, op, text in written[: len(mine)]] == [("INSERT", t) for t in mine]
            assert sorted(text for _seq, op, text in written if op == "DELETE") == deleted
    for user in users:
        report = await keep.audit.verify(user)
        assert report.ok, report.breaks


async def test_an_insert_that_inserts_nothing_writes_nothing(keep: Keep, database: Database) -> None:
    user = await user_with_rows(keep, messages=1)
    async with superuser(database) as conn:
        before = await conn.fetchval("SELECT seq FROM audit_chain_heads WHERE user_id = $1", user.user_id)
        total = await conn.fetchval("SELECT count(*) FROM audit_log")
        await conn.execute(
            "INSERT INTO messages (user_id, conversation_id, id, role, content)"
            " SELECT user_id, conversation_id, id, role, content FROM messages WHERE false"
        )
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == total
        assert (
            await conn.fetchval("SELECT seq FROM audit_chain_heads WHERE user_id = $1", user.user_id)
            == before
        )


async def test_a_repeatable_read_writer_fails_rather_than_forks_the_chain(
    keep: Keep, database: Database
) -> None:
    user = await user_with_rows(keep, messages=1)
    chat = await keep.conversations.create(user.user_id, NewConversation(title="rr"))
    late = await asyncpg.connect(asyncpg_dsn(database.urls.app))
    try:
        transaction = late.transaction(isolation="repeatable_read")
        await transaction.start()
        for statement in principal_settings(Principal.user(user.user_id)):
            await late.execute(statement)
        await late.fetchval("SELECT count(*) FROM messages")  # the snapshot is taken here
        await keep.messages.append(user.user_id, chat.id, NewMessage(role="user", content="first"))
        with pytest.raises(asyncpg.SerializationError):
            await late.execute(
                "INSERT INTO messages (user_id, conversation_id, id, role, content)"
                " VALUES ($1, $2, $3, 'user', 'late')",
                user.user_id,
                chat.id,
                new_id(),
            )
        await transaction.rollback()
    finally:
        await late.close()
    report = await keep.audit.verify(user.user_id)
    assert report.ok, report.breaks


async def test_a_batch_in_one_chain_is_written_in_its_order(keep: Keep) -> None:
    user = await user_with_rows(keep, messages=0)
    chat = await keep.conversations.create(user.user_id, NewConversation(title="batch"))
    texts = [f"message {n}" for n in range(5)]
    await keep.messages.append_many(
        user.user_id, chat.id, [NewMessage(role="user", content=t) for t in texts]
    )
    report = await keep.audit.verify(user.user_id)
    assert report.ok, report.breaks
    entries = await keep.audit.trail(user.user_id, limit=5)
    assert [(e.operation, (e.new_values or {}).get("content")) for e in reversed(entries.items)] == [
        ("INSERT", t) for t in texts
    ]


async def test_rows_of_the_operator_chain_inserted_together(database: Database) -> None:
    terms = [f"t{uuid.uuid4().hex[:8]}" for _ in range(3)]
    async with superuser(database) as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            before = await conn.fetchval("SELECT seq FROM audit_chain_heads WHERE user_id = $1", NIL)
            await conn.execute(
                "INSERT INTO vocabulary_terms (vocabulary, term)"
                " SELECT 'speed_test', t FROM unnest($1::text[]) AS t",
                terms,
            )
            written = await conn.fetch(
                "SELECT seq, record_id ->> 'term' AS term FROM audit_log"
                " WHERE user_id = $1 AND seq > $2 ORDER BY seq",
                NIL,
                before,
            )
            report = await verify_on(conn, [], NIL)
        finally:
            await transaction.rollback()
    assert [(row["seq"], row["term"]) for row in written] == [
        (before + 1 + n, t) for n, t in enumerate(terms)
    ]
    assert report.breaks == []

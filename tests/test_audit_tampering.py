"""Tampering is caught at the right link: 1,000 random changes made as a superuser with the
triggers off (a flipped payload byte, a deleted entry, two entries swapped, a changed sequence
number or header column, a live row changed behind the trigger's back), each in a transaction
rolled back after verifying the chain it touched. Plus: an untouched database verifies clean,
concurrent writers leave no forks or gaps, a restored older state is caught by saved heads."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import timedelta
from typing import Any

import asyncpg

from agentkeep.audit.repository import audited_tables
from agentkeep.audit.service import verify_on
from agentkeep.conversations.models import NewConversation
from agentkeep.database.engine import Database
from agentkeep.ids import new_id
from agentkeep.keep import Keep
from agentkeep.messages.models import NewMessage
from agentkeep.schema import metadata
from audit_support import ON_CITUS, superuser, user_with_rows

TAMPERINGS = 1000
KINDS = ("payload", "delete", "swap", "seq", "header", "live_row")
TABLES = audited_tables(metadata)
FAR = 1_000_000_000


async def _flip_payload_byte(conn: asyncpg.Connection, rng: random.Random, user: uuid.UUID, seq: int) -> None:
    column = (
        "new_values"
        if await conn.fetchval(
            "SELECT new_values IS NOT NULL FROM audit_log WHERE user_id = $1 AND seq = $2", user, seq
        )
        else "old_values"
    )
    text = await conn.fetchval(
        f"SELECT {column}::text FROM audit_log WHERE user_id = $1 AND seq = $2", user, seq
    )
    positions = [i for i, char in enumerate(text) if char.isalnum()]
    while True:
        at = rng.choice(positions)
        flipped = text[:at] + ("b" if text[at] == "a" else "a") + text[at + 1 :]
        try:
            json.loads(flipped)
        except ValueError:
            continue
        break
    await conn.execute(
        f"UPDATE audit_log SET {column} = $3::jsonb WHERE user_id = $1 AND seq = $2", user, seq, flipped
    )


async def _tamper(
    conn: asyncpg.Connection, rng: random.Random, kind: str, user: uuid.UUID, last: int
) -> int | str:
    """Make one change; what verification must report: the broken seq, or the live row's key."""
    seq = rng.randint(1, last)
    if kind == "payload":
        await _flip_payload_byte(conn, rng, user, seq)
    elif kind == "delete":
        await conn.execute("DELETE FROM audit_log WHERE user_id = $1 AND seq = $2", user, seq)
    elif kind == "swap":
        seq = rng.randint(1, last - 1)
        other = rng.randint(seq + 1, last)
        await conn.execute("UPDATE audit_log SET seq = $3 WHERE user_id = $1 AND seq = $2", user, seq, FAR)
        await conn.execute("UPDATE audit_log SET seq = $3 WHERE user_id = $1 AND seq = $2", user, other, seq)
        await conn.execute("UPDATE audit_log SET seq = $3 WHERE user_id = $1 AND seq = $2", user, FAR, other)
    elif kind == "seq":
        await conn.execute(
            "UPDATE audit_log SET seq = seq + $3 WHERE user_id = $1 AND seq = $2", user, seq, FAR
        )
    elif kind == "header":
        # The new time computed here: Citus refuses timestamptz arithmetic on a column in UPDATE.
        occurred_at = await conn.fetchval(
            "SELECT occurred_at FROM audit_log WHERE user_id = $1 AND seq = $2", user, seq
        )
        await conn.execute(
            "UPDATE audit_log SET occurred_at = $3 WHERE user_id = $1 AND seq = $2",
            user,
            seq,
            occurred_at + timedelta(microseconds=1),
        )
    else:
        message_id = rng.choice(
            [row[0] for row in await conn.fetch("SELECT id FROM messages WHERE user_id = $1", user)]
        )
        await conn.execute(
            "UPDATE messages SET content = content || '!' WHERE user_id = $1 AND id = $2", user, message_id
        )
        return str(message_id)
    return seq


async def test_an_untouched_database_verifies_clean(keep: Keep) -> None:
    await user_with_rows(keep)
    report = await keep.audit.verify()
    assert report.ok, (report.breaks, report.live_rows)
    assert report.entries > 0 and report.chains >= 2


async def test_a_thousand_tamperings_are_each_reported_at_the_right_link(
    keep: Keep, database: Database
) -> None:
    users = [(await user_with_rows(keep, messages=12, text=f"tamper {n}")).user_id for n in range(4)]
    rng = random.Random(8)  # noqa: S311 - reproducible choices, not secrets
    counts = dict.fromkeys(KINDS, 0)
    async with superuser(database) as conn:
        lasts = {
            user: await conn.fetchval("SELECT max(seq) FROM audit_log WHERE user_id = $1", user)
            for user in users
        }
        for user in users:  # the starting state is clean, chain and live rows
            assert (await verify_on(conn, TABLES, user)).ok
        for _ in range(TAMPERINGS):
            kind = rng.choice(KINDS)
            counts[kind] += 1
            user = rng.choice(users)
            transaction = conn.transaction()
            await transaction.start()
            try:
                await conn.execute("SET LOCAL session_replication_role = replica")
                expected = await _tamper(conn, rng, kind, user, lasts[user])
                report = await verify_on(conn, TABLES if kind == "live_row" else [], user)
            finally:
                await transaction.rollback()
            if kind == "live_row":
                assert report.breaks == [], kind
                assert [
                    (p.table_name, json.loads(p.record_id or "{}").get("id")) for p in report.live_rows
                ] == [("messages", expected)], kind
                assert "changed without the audit trigger" in report.live_rows[0].problem
            else:
                assert [(b.user_id, b.seq) for b in report.breaks] == [(str(user), expected)], (
                    kind,
                    report.breaks,
                )
    assert min(counts.values()) > 100, counts


async def test_a_row_nobody_audited_and_a_row_deleted_behind_the_trigger_are_reported(
    keep: Keep, database: Database
) -> None:
    user = await user_with_rows(keep, messages=2)
    async with superuser(database) as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            if ON_CITUS:  # Citus changes triggers of distributed tables only when told to
                await conn.execute("SET LOCAL citus.enable_unsafe_triggers = on")
            await conn.execute("ALTER TABLE messages DISABLE TRIGGER audit_messages")
            if not ON_CITUS:  # inserts have their own statement trigger (revision 0015)
                await conn.execute("ALTER TABLE messages DISABLE TRIGGER audit_messages_insert")
            await conn.execute(
                "DELETE FROM messages WHERE user_id = $1 AND content = 'hello 0'", user.user_id
            )
            await conn.execute(
                "INSERT INTO messages (user_id, id, conversation_id, role, content)"
                " SELECT user_id, $2, conversation_id, role, 'smuggled' FROM messages WHERE user_id = $1",
                user.user_id,
                new_id(),
            )
            report = await verify_on(conn, TABLES, user.user_id)
        finally:
            await transaction.rollback()
    problems = sorted(problem.problem for problem in report.live_rows)
    assert problems == ["live row has no audit entry", "row is gone but its last entry is INSERT"]
    assert report.breaks == []


async def test_concurrent_writers_leave_no_forks_or_gaps(keep: Keep, owner: Any) -> None:
    users = [(await user_with_rows(keep, messages=0)).user_id for _ in range(4)]
    chats = {
        user: (await keep.conversations.create(user, NewConversation(title="busy"))).id for user in users
    }
    async with owner.transaction():
        await owner.execute("SET LOCAL agentkeep.principal = 'operator'")
        before = {
            user: await owner.fetchval("SELECT seq FROM audit_chain_heads WHERE user_id = $1", user)
            for user in users
        }

    async def writer(number: int) -> None:
        user = users[number % 4]
        for item in range(10):
            await keep.messages.append(
                user, chats[user], NewMessage(role="user", content=f"w{number} {item}")
            )

    await asyncio.gather(*(writer(number) for number in range(32)))
    async with owner.transaction():
        await owner.execute("SET LOCAL agentkeep.principal = 'operator'")
        for user in users:
            seqs = [
                row[0]
                for row in await owner.fetch(
                    "SELECT seq FROM audit_log WHERE user_id = $1 ORDER BY seq", user
                )
            ]
            assert seqs == list(range(1, before[user] + 81))  # 8 writers x 10 messages each, no gap
            forks = await owner.fetchval(
                "SELECT count(*) - count(DISTINCT prev_hash) FROM audit_log WHERE user_id = $1", user
            )
            assert forks == 0
    for user in users:
        assert (await keep.audit.verify(user)).ok


async def test_a_restored_older_state_is_caught_by_saved_heads(keep: Keep, database: Database) -> None:
    user = await user_with_rows(keep, messages=3)
    saved = await keep.audit.head()
    await keep.messages.append(
        user.user_id,
        (await keep.conversations.create(user.user_id)).id,
        NewMessage(role="user", content="later"),
    )
    async with superuser(database) as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            # As if an older backup came back: the chain and its head end a few entries earlier.
            await conn.execute("SET LOCAL session_replication_role = replica")
            cut = saved[str(user.user_id)]["seq"] - 2
            await conn.execute("DELETE FROM audit_log WHERE user_id = $1 AND seq > $2", user.user_id, cut)
            await conn.execute(
                "UPDATE audit_chain_heads SET seq = $2,"
                " hash = (SELECT entry_hash FROM audit_log WHERE user_id = $1 AND seq = $2)"
                " WHERE user_id = $1",
                user.user_id,
                cut,
            )
            await conn.execute("DELETE FROM messages WHERE user_id = $1", user.user_id)
            await conn.execute("DELETE FROM persona_activations WHERE user_id = $1", user.user_id)
            await conn.execute("DELETE FROM conversations WHERE user_id = $1", user.user_id)
            alone = await verify_on(conn, [], user.user_id)
            caught = await verify_on(conn, [], user.user_id, against=saved)
        finally:
            await transaction.rollback()
    assert alone.breaks == []  # consistent by itself: only the saved head shows it
    assert [(b.user_id, b.seq) for b in caught.breaks] == [(str(user.user_id), cut + 1)] or [
        b.seq for b in caught.breaks
    ] == [saved[str(user.user_id)]["seq"]]
    assert "rolled back or truncated" in caught.breaks[0].problem

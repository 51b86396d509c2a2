"""Auditing and partitions: what the audit trail costs the hot paths, and what partitions cost reads.

    python -m benchmarks.bench_audit            # what `make bench` runs
    python -m benchmarks.bench_audit --quick    # fewer rounds, for a smoke test

On the fill of benchmarks/bench_messages.py (the same database, reused), in one process:

- append (one message, and a batch of 50) and an update (a conversation renamed), each with
  auditing on and off on the same schema, by 1 user and by 16 users at once. "Off" disables the
  audit triggers of the two tables (``ALTER TABLE … DISABLE TRIGGER audit_…``, each table's row
  trigger and, from revision 0015 on, its insert statement trigger) for that case's
  block only: the harness interleaves on and off blocks, so both see the same machine;
- latest 50 on the partitioned ``messages`` beside an unpartitioned copy of it
  (``bench_messages_flat``: same rows, indexes and row-level security), through the same
  hand-written floor SQL on a connection with the SDK's hot-path settings (generic plans, no
  sorts: engine.PLAIN_DRIVER_SETTINGS);
- ``audit verify`` over every chain of the fill (entries per second), and the audit log's size
  per message stored.

Writes benchmarks/results/audit.json; docs/benchmarks.md shows it in its audit section.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from agentkeep.database.engine import PLAIN_DRIVER_SETTINGS
from agentkeep.keep import Keep
from agentkeep.messages.models import NewMessage
from agentkeep.users.models import NewUser
from benchmarks import fixture as fixtures
from benchmarks import report
from benchmarks.bench_messages import BATCH, LATEST, ROOT, open_keep, say
from benchmarks.floor import LATEST as FLOOR_LATEST
from benchmarks.floor import Floor
from benchmarks.harness import Case, run_group

CONCURRENT_USERS = 16
AUDITED = ("messages", "conversations")
FLAT = "bench_messages_flat"
# The copy gets the same tenant policy as the real table (migration 0002's expression).
FLAT_TABLE = f"""
CREATE TABLE {FLAT} (LIKE messages INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
INSERT INTO {FLAT} SELECT * FROM messages;
ALTER TABLE {FLAT} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {FLAT} FORCE ROW LEVEL SECURITY;
CREATE POLICY {FLAT}_tenant ON {FLAT} FOR ALL
    USING (user_id = NULLIF(current_setting('agentkeep.user_id', true), '')::uuid);
GRANT SELECT ON {FLAT} TO agentkeep_app;
"""
# A partitioned table's own size is 0: add up every relation of its partition tree.
TOTAL_SIZE = """
SELECT coalesce(
    (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree($1::regclass)),
    pg_total_relation_size($1::regclass)
)::bigint
"""
FLAT_LATEST = FLOOR_LATEST.replace("FROM messages", f"FROM {FLAT}")
AUDIT_TRIGGERS = """
SELECT tgname FROM pg_trigger
 WHERE tgrelid = $1::regclass AND tgparentid = 0 AND NOT tgisinternal
   AND tgname IN ('audit_' || $1, 'audit_' || $1 || '_insert')
 ORDER BY tgname
"""


class AuditSwitch:
    """Turns the audit triggers of the benchmarked tables on or off, between blocks (untimed)."""

    def __init__(self, owner: asyncpg.Connection) -> None:
        self.owner = owner
        self.on: bool | None = None

    async def set(self, on: bool) -> None:
        if self.on is on:
            return
        verb = "ENABLE" if on else "DISABLE"
        for table in AUDITED:
            # audit_<table>, and audit_<table>_insert from revision 0015 on (inserts per statement)
            for (name,) in await self.owner.fetch(AUDIT_TRIGGERS, table):
                await self.owner.execute(f'ALTER TABLE {table} {verb} TRIGGER "{name}"')
        self.on = on


class Writer:
    """One user with a conversation of their own, for appends and renames."""

    def __init__(self, keep: Keep, user_id: uuid.UUID, conversation_id: uuid.UUID, version: int) -> None:
        self.keep = keep
        self.user_id = user_id
        self.conversation_id = conversation_id
        self.version = version
        self.renames = 0

    @classmethod
    async def create(cls, keep: Keep, n: int) -> Writer:
        user = await keep.users.create(NewUser(email=f"bench-audit-{uuid.uuid4().hex[:12]}-{n}@example.com"))
        conversation = await keep.conversations.create(user.user_id)
        return cls(keep, user.user_id, conversation.id, conversation.version)

    async def append(self, message: NewMessage) -> None:
        await self.keep.messages.append(self.user_id, self.conversation_id, message)

    async def append_many(self, batch: list[NewMessage]) -> None:
        await self.keep.messages.append_many(self.user_id, self.conversation_id, batch)

    async def rename(self) -> None:
        self.renames += 1
        renamed = await self.keep.conversations.rename(
            self.user_id, self.conversation_id, f"renamed {self.renames}", version=self.version
        )
        self.version = renamed.version


def switched(
    switch: AuditSwitch, on: bool, op: Callable[[], Awaitable[None]]
) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        if switch.on is not on:
            await switch.set(on)
        await op()

    return run


def audit_cases(switch: AuditSwitch, writers: list[Writer]) -> dict[str, list[Case]]:
    one = NewMessage(role="user", content=fixtures.chat_text(1))
    batch = [
        NewMessage(role="user" if i % 2 == 0 else "assistant", content=fixtures.chat_text(i))
        for i in range(BATCH)
    ]
    solo, crowd = writers[0], writers[1 : CONCURRENT_USERS + 1]

    async def append_1() -> None:
        await solo.append(one)

    async def append_16() -> None:
        await asyncio.gather(*(w.append(one) for w in crowd))

    async def batch_1() -> None:
        await solo.append_many(batch)

    async def batch_16() -> None:
        await asyncio.gather(*(w.append_many(batch) for w in crowd))

    async def update_1() -> None:
        await solo.rename()

    async def update_16() -> None:
        await asyncio.gather(*(w.rename() for w in crowd))

    groups: dict[str, list[Case]] = {}
    for name, op, per_round, items in (
        ("append_1_user", append_1, 20, 1),
        ("append_16_users", append_16, 5, CONCURRENT_USERS),
        ("append_50_1_user", batch_1, 5, BATCH),
        ("append_50_16_users", batch_16, 2, BATCH * CONCURRENT_USERS),
        ("update_1_user", update_1, 20, 1),
        ("update_16_users", update_16, 5, CONCURRENT_USERS),
    ):
        # Each block runs many operations: the ALTER TABLE between blocks is not timed (the first
        # operation of a block pays for it, so it is dropped below), and waits for no one.
        groups[name] = [
            Case(f"{name}_audit_on", switched(switch, True, op), per_round + 1, items=items),
            Case(f"{name}_audit_off", switched(switch, False, op), per_round + 1, items=items),
        ]
    return groups


async def ensure_flat_copy(su: asyncpg.Connection) -> None:
    if await su.fetchval("SELECT to_regclass($1) IS NOT NULL", FLAT):
        same = await su.fetchval(
            f"SELECT (SELECT count(*) FROM {FLAT}) >= (SELECT count(*) FROM messages) - 100000"
        )
        if same:
            return
        await su.execute(f"DROP TABLE {FLAT}")
    say(f"copying messages into the unpartitioned {FLAT} (once per fill)")
    await su.execute(FLAT_TABLE)
    await su.execute(f"VACUUM (ANALYZE) {FLAT}")  # not in a transaction block, so apart


def read_cases(floor: Floor, fixture: fixtures.Fixture) -> list[Case]:
    cases: list[Case] = []
    for size in fixtures.TARGET_SIZES:
        conversation_id = fixture.conversations[size]

        async def partitioned(conversation_id: uuid.UUID = conversation_id) -> None:
            await floor.latest(conversation_id, LATEST)

        async def flat(conversation_id: uuid.UUID = conversation_id) -> None:
            conn = floor.conn
            await conn.execute(floor.begin)
            await conn.fetch(FLAT_LATEST, floor.user_id, conversation_id, LATEST)
            await conn.execute("COMMIT")

        cases.append(Case(f"latest_{size}_partitioned", partitioned, 40))
        cases.append(Case(f"latest_{size}_flat", flat, 40))
    return cases


async def verify_throughput(keep: Keep) -> dict[str, Any]:
    """``audit verify`` over every chain, as the CLI runs it: chains only, then with live rows."""
    started = time.perf_counter()
    chains_only = await keep.audit.verify(live_rows=False)
    chain_seconds = time.perf_counter() - started
    started = time.perf_counter()
    full = await keep.audit.verify()
    full_seconds = time.perf_counter() - started
    return {
        "entries": chains_only.entries,
        "chains": chains_only.chains,
        "seconds": chain_seconds,
        "entries_per_s": chains_only.entries / chain_seconds,
        "with_live_rows_seconds": full_seconds,
        "with_live_rows_entries_per_s": full.entries / full_seconds,
        "clean": chains_only.ok and full.ok,
    }


def drop_first_of_each_block(case: Case) -> None:
    # The first operation of every block may have waited for the switch's ALTER TABLE.
    block = case.per_round
    case.samples[:] = [s for i, s in enumerate(case.samples) if i % block != 0]


async def audit_facts(su: asyncpg.Connection) -> dict[str, Any]:
    entries = await su.fetchval("SELECT count(*) FROM audit_log")
    message_entries = await su.fetchval("SELECT count(*) FROM audit_log WHERE table_name = 'messages'")
    messages = await su.fetchval("SELECT count(*) FROM messages")
    audit_bytes = await su.fetchval(TOTAL_SIZE, "audit_log")
    messages_bytes = await su.fetchval(TOTAL_SIZE, "messages")
    return {
        "entries": entries,
        "message_entries": message_entries,
        "messages": messages,
        "audit_bytes": audit_bytes,
        "messages_bytes": messages_bytes,
        "audit_bytes_per_entry": audit_bytes / max(1, entries),
        "messages_bytes_per_message": messages_bytes / max(1, messages),
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    keep, fixture = await open_keep(args)
    urls = keep.database.urls
    owner = await asyncpg.connect(fixtures.bench_dsn(urls, "owner"))
    su = await asyncpg.connect(fixtures.bench_dsn(urls, "superuser"))
    # The SDK's hot-path pool settings (engine.py): what the latest 50 runs under in agentkeep,
    # on both tables alike.
    floor = await Floor.connect(fixtures.bench_dsn(urls, "app"), fixture.user_id, PLAIN_DRIVER_SETTINGS)
    switch = AuditSwitch(owner)
    try:
        server = await report.server_facts(su)
        await ensure_flat_copy(su)
        facts = await audit_facts(su)
        say(f"verifying {facts['entries']:,} audit entries")
        verify = await verify_throughput(keep)
        writers = [await Writer.create(keep, n) for n in range(CONCURRENT_USERS + 1)]
        await su.execute("VACUUM (ANALYZE) messages, conversations, audit_log")
        await su.execute("CHECKPOINT")
        groups = {"latest": read_cases(floor, fixture), **audit_cases(switch, writers)}
        durations: dict[str, float] = {}
        for group, cases in groups.items():
            say(f"{group}: {', '.join(case.name for case in cases)}")
            durations[group] = await run_group(
                cases, rounds=args.rounds, warmup_rounds=max(2, args.rounds // 10), say=say
            )
            if group != "latest":
                for case in cases:
                    drop_first_of_each_block(case)
        results = {case.name: case.summary() for cases in groups.values() for case in cases}
    finally:
        await switch.set(True)
        await owner.close()
        await su.close()
        await floor.close()
        await keep.close()
    return {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": report.machine_facts(),
        "server": server,
        "rounds": args.rounds,
        "concurrent_users": CONCURRENT_USERS,
        "audit": facts,
        "verify": verify,
        "results": results,
        "durations": durations,
        "total_seconds": time.perf_counter() - started,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    document = asyncio.run(measure(args))
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    say(f"wrote {path}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_audit", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=30, help="measured rounds per group (default 30)")
    parser.add_argument("--quick", action="store_true", help="4 rounds: a smoke test, not a measurement")
    parser.add_argument("--messages", type=int, default=1_000_000, help="messages in the filled table")
    parser.add_argument("--rebuild", action="store_true", help="drop and fill the database again")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "audit.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = 4
    return args


if __name__ == "__main__":
    sys.exit(main())

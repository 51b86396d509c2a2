"""Messages: append (one, and batches of 50) and the latest 50, against the floor and langchain.

    python -m benchmarks.bench_messages            # what `make bench` runs
    python -m benchmarks.bench_messages --quick    # fewer rounds, for a smoke test
    python -m benchmarks.bench_messages --profile sdk_latest_10000

Starts the embedded PostgreSQL in AGENTKEEP_BENCH_DATA_DIR (default: the user cache folder,
``agentkeep/bench``), fills database ``agentkeep_bench`` once (see benchmarks/fixture.py), then
times, in this one process and one event loop, interleaved:

- sdk:       agentkeep's public SDK (``Keep.messages``);
- floor:     plain asyncpg with hand-written SQL, same schema, same role, same SET LOCAL, same
             plan settings as the SDK's hot-path pool;
- langchain: langchain-postgres ``PostgresChatMessageHistory`` on its own table in the same
             database (psycopg 3, as its documentation sets it up).

Writes benchmarks/results/latest.json and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import platformdirs
import psycopg
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_postgres import PostgresChatMessageHistory

from agentkeep.database import migrate
from agentkeep.database.bootstrap import drop_database, ensure_database
from agentkeep.database.engine import PLAIN_DRIVER_SETTINGS
from agentkeep.database.urls import asyncpg_dsn
from agentkeep.keep import Keep
from agentkeep.messages.models import NewMessage
from agentkeep.settings import load_settings
from benchmarks import fixture as fixtures
from benchmarks import report
from benchmarks.floor import Floor
from benchmarks.harness import Case, run_group

DATABASE = "agentkeep_bench"
ROOT = Path(__file__).resolve().parent.parent
BATCH = 50
LATEST = 50


def say(text: str) -> None:
    print(text, flush=True)


def data_dir() -> Path:
    configured = os.environ.get("AGENTKEEP_BENCH_DATA_DIR")
    if configured:
        return Path(configured)
    return Path(platformdirs.user_cache_dir("agentkeep", appauthor=False)) / "bench"


async def open_keep(args: argparse.Namespace) -> tuple[Keep, fixtures.Fixture]:
    # database_url=None: always the embedded server, whatever AGENTKEEP_DATABASE_URL says.
    settings = load_settings(database_url=None, data_dir=data_dir(), database_name=DATABASE)
    say(f"embedded PostgreSQL in {settings.data_dir}, database {DATABASE}")
    keep = await Keep.connect(settings, migrate=True)
    urls = keep.database.urls
    fixture = None if args.rebuild else await fixtures.load(urls)
    if fixture is not None:
        fresh = await fixtures.fresh_schema_fingerprint(urls, f"{DATABASE}_schema")
        if fixture.version != fixtures.FIXTURE_VERSION or fixture.target_messages != args.messages:
            say("the stored fill is for another version or size: rebuilding")
            fixture = None
        elif fixture.schema != fresh or await fixtures.schema_fingerprint(urls) != fresh:
            say("the schema changed since the fill (a migration edited or added): rebuilding")
            fixture = None
    if fixture is None:
        say(f"filling {DATABASE} to {args.messages:,} messages (once; later runs reuse it)")
        # Dropping the database ends every connection to it: let go of the pooled ones first.
        database = keep.database
        await database.app_engine.dispose()
        await database.owner_engine.dispose()
        drivers = getattr(database, "drivers", None)
        if drivers is not None:
            await drivers.close()
            database.drivers = type(drivers)(asyncpg_dsn(urls.app), keep.settings.pool_size)
        await drop_database(urls, DATABASE)
        await ensure_database(urls, DATABASE)
        await migrate.upgrade(keep.database)
        fixture = await fixtures.build(keep, args.messages, say)
    else:
        say(f"reusing the fill: {fixture.messages:,} messages, {fixture.langchain_rows:,} langchain rows")
    return keep, fixture


def langchain_batch(n: int) -> list[BaseMessage]:
    return [
        HumanMessage(content=fixtures.chat_text(i))
        if i % 2 == 0
        else AIMessage(content=fixtures.chat_text(i))
        for i in range(n)
    ]


class Bench:
    """Every case, bound to its connections and target rows."""

    def __init__(
        self,
        keep: Keep,
        fixture: fixtures.Fixture,
        floor: Floor,
        lc_read_sync: psycopg.Connection[Any],
        lc_read_async: psycopg.AsyncConnection[Any],
        lc_write: psycopg.AsyncConnection[Any],
        append_conversations: dict[str, uuid.UUID],
    ) -> None:
        user_id = fixture.user_id
        messages = keep.messages
        one = NewMessage(role="user", content=fixtures.chat_text(1))
        batch = [
            NewMessage(role="user" if i % 2 == 0 else "assistant", content=fixtures.chat_text(i))
            for i in range(BATCH)
        ]
        roles = [m.role for m in batch]
        contents = [m.content for m in batch]
        session = str(fixture.langchain_session)
        table = fixtures.LANGCHAIN_TABLE
        lc_sync = PostgresChatMessageHistory(table, session, sync_connection=lc_read_sync)
        lc_async = PostgresChatMessageHistory(table, session, async_connection=lc_read_async)
        lc_append = PostgresChatMessageHistory(table, str(uuid.uuid4()), async_connection=lc_write)
        self.lc_append = lc_append
        lc_one = langchain_batch(1)
        lc_batch = langchain_batch(BATCH)
        sdk_conv = append_conversations["sdk"]
        floor_conv = append_conversations["floor"]

        def latest_cases(size: int) -> list[Case]:
            conversation_id = fixture.conversations[size]

            async def sdk() -> None:
                await messages.latest(user_id, conversation_id, LATEST)

            async def floor_read() -> None:
                await floor.latest(conversation_id, LATEST)

            return [
                Case(f"sdk_latest_{size}", sdk, 40),
                Case(f"floor_latest_{size}", floor_read, 40),
            ]

        async def floor_round_trip() -> None:
            await floor.conn.fetchval("SELECT 1")

        async def lc_get_sync() -> None:
            lc_sync.get_messages()

        async def lc_get_async() -> None:
            await lc_async.aget_messages()

        async def sdk_append() -> None:
            await messages.append(user_id, sdk_conv, one)

        async def floor_append() -> None:
            await floor.append_one(floor_conv, "user", one.content)

        async def lc_append_one() -> None:
            await lc_append.aadd_messages(lc_one)

        async def sdk_append_many() -> None:
            await messages.append_many(user_id, sdk_conv, batch)

        async def floor_unnest() -> None:
            await floor.append_unnest(floor_conv, roles, contents)

        async def floor_executemany() -> None:
            await floor.append_executemany(floor_conv, roles, contents)

        async def lc_append_batch() -> None:
            await lc_append.aadd_messages(lc_batch)

        self.groups: dict[str, list[Case]] = {
            "latest": [
                Case("floor_select_1", floor_round_trip, 40),
                *(case for size in fixtures.TARGET_SIZES for case in latest_cases(size)),
                Case("langchain_get_1000_sync", lc_get_sync, 3),
                Case("langchain_get_1000_async", lc_get_async, 3),
            ],
            "append_one": [
                Case("sdk_append", sdk_append, 25),
                Case("floor_append", floor_append, 25),
                Case("langchain_append", lc_append_one, 25),
            ],
            "append_batch": [
                Case("sdk_append_many_50", sdk_append_many, 6, items=BATCH),
                Case("floor_insert_unnest_50", floor_unnest, 6, items=BATCH),
                Case("floor_executemany_50", floor_executemany, 6, items=BATCH),
                Case("langchain_append_50", lc_append_batch, 6, items=BATCH),
            ],
        }

    def case(self, name: str) -> Case:
        for cases in self.groups.values():
            for case in cases:
                if case.name == name:
                    return case
        raise SystemExit(f"no case named {name!r}; cases: {', '.join(self.names())}")

    def names(self) -> list[str]:
        return [case.name for cases in self.groups.values() for case in cases]


async def profile(bench: Bench, name: str, operations: int) -> None:
    case = bench.case(name)
    for _ in range(200):
        await case.op()
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(operations):
        await case.op()
    profiler.disable()
    elapsed = time.perf_counter() - started
    say(f"{name}: {elapsed / operations * 1e6:.0f} µs per operation under cProfile")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(35)


async def measure(args: argparse.Namespace) -> dict[str, Any] | None:
    """Run the benchmark; the results document, or None when only profiling."""
    started = time.perf_counter()
    keep, fixture = await open_keep(args)
    urls = keep.database.urls
    # The settings of the SDK's hot-path pool (generic plans, no sorts): on the partitioned table a
    # generic plan with the default settings sorts a whole conversation (docs/partitions.md).
    floor = await Floor.connect(fixtures.bench_dsn(urls, "app"), fixture.user_id, PLAIN_DRIVER_SETTINGS)
    owner_dsn = fixtures.bench_dsn(urls, "owner")
    # Reads on autocommit connections (no BEGIN round trip: the fastest langchain can read);
    # writes on a default one, as langchain's documentation sets it up (it commits each call).
    lc_read_sync = psycopg.connect(owner_dsn, autocommit=True)
    lc_read_async = await psycopg.AsyncConnection.connect(owner_dsn, autocommit=True)
    lc_write = await psycopg.AsyncConnection.connect(owner_dsn)
    append_conversations = {
        side: (await keep.conversations.create(fixture.user_id)).id for side in ("sdk", "floor")
    }
    bench = Bench(keep, fixture, floor, lc_read_sync, lc_read_async, lc_write, append_conversations)
    try:
        su = await asyncpg.connect(fixtures.bench_dsn(urls, "superuser"))
        try:
            server = await report.server_facts(su)
            # Settle the table: no autovacuum or checkpoint left over from an earlier run.
            await su.execute(f"VACUUM (ANALYZE) messages, conversations, {fixtures.LANGCHAIN_TABLE}")
            await su.execute("CHECKPOINT")
        finally:
            await su.close()

        if args.profile:
            await profile(bench, args.profile, args.profile_ops)
            return None

        copy_refusal = await floor.try_copy(append_conversations["floor"])
        rounds = args.rounds
        durations: dict[str, float] = {}
        for group, cases in bench.groups.items():
            say(f"{group}: {', '.join(case.name for case in cases)}")
            durations[group] = await run_group(
                cases, rounds=rounds, warmup_rounds=max(2, rounds // 10), say=say
            )
        results = {case.name: case.summary() for cases in bench.groups.values() for case in cases}
    finally:
        await floor.delete_conversations(list(append_conversations.values()))
        await bench.lc_append.aclear()
        await floor.close()
        lc_read_sync.close()
        await lc_read_async.close()
        await lc_write.close()
        await keep.close()

    return report.build(
        results=results,
        fixture=fixture,
        server=server,
        copy_refusal=copy_refusal,
        rounds=rounds,
        durations=durations,
        total_seconds=time.perf_counter() - started,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    document = asyncio.run(measure(args))
    if document is None:
        return 0
    say("")
    say(report.console_table(document))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2) + "\n")
        say(f"wrote {path}")
    if args.docs:
        Path(args.docs).write_text(report.markdown(document))
        say(f"wrote {args.docs}")
    missed = [target["key"] for target in document["targets"] if not target["passed"]]
    return 1 if missed and args.strict else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_messages", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=60, help="measured rounds per group (default 60)")
    parser.add_argument("--quick", action="store_true", help="6 rounds: a smoke test, not a measurement")
    parser.add_argument("--messages", type=int, default=1_000_000, help="messages in the filled table")
    parser.add_argument("--rebuild", action="store_true", help="drop and fill the database again")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "latest.json"))
    parser.add_argument("--docs", default=str(ROOT / "docs" / "benchmarks.md"), help="'' to skip")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--profile", metavar="CASE", help="cProfile one case instead of measuring")
    parser.add_argument("--profile-ops", type=int, default=2000)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = 6
    return args


if __name__ == "__main__":
    sys.exit(main())

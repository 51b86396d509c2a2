"""What the audit triggers cost the server, in seconds: a micro-benchmark for trying trigger ideas.

    python -m benchmarks.micro_audit              # on the embedded server of the benchmarks
    python -m benchmarks.micro_audit --rounds 9   # more rounds when the machine is busy
    python -m benchmarks.micro_audit --at 0008    # the triggers as they were before revision 0015

docs/benchmarks.md shows benchmarks/results/audit-micro-0008.json and audit-micro.json (--json).

Measures the CPU time of the server process serving one connection (Linux: /proc/<pid>/schedstat),
not the wall clock, so other work on a busy machine hardly moves the numbers. One DO block per
case runs N statements, each its own transaction (COMMIT inside the loop, synchronous_commit off:
the cost of the triggers, not of the disk): one message inserted; a batch of 50 in one INSERT;
the SDK's single append (an INSERT with the token-count UPDATE of the conversation in a CTE that
changes no row); a conversation renamed. Each with the two tables' audit triggers on and off,
alternating, best of the rounds. Writes to its own database (``agentkeep_micro``), on the
benchmark server's data directory (AGENTKEEP_BENCH_DATA_DIR); each run adds one user's rows.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import uuid
from pathlib import Path

import asyncpg

from agentkeep.database import migrate
from agentkeep.database.urls import DatabaseUrls
from agentkeep.keep import Keep
from agentkeep.settings import load_settings
from benchmarks.bench_messages import data_dir, say
from benchmarks.fixture import bench_dsn

DATABASE = "agentkeep_micro"
TABLES = ("messages", "conversations")
TEXT = "lorem ipsum dolor sit amet " * 16  # about the fill's average message (420 characters)
INSERT = (
    "INSERT INTO messages (user_id, conversation_id, id, role, content)"
    " SELECT $1::uuid, $2::uuid, uuidv7(), 'user', $3 FROM generate_series(1, {rows})"
)
CASES = {
    "insert 1": (INSERT.format(rows=1), 1),
    "insert 50 (one statement)": (INSERT.format(rows=50), 50),
    "SDK append 1 (with the usage CTE)": (
        "WITH usage AS (UPDATE conversations SET tokens_used = tokens_used + NULL::integer"
        " WHERE user_id = $1::uuid AND id = $2::uuid AND NULL::integer IS NOT NULL) " + INSERT.format(rows=1),
        1,
    ),
    "update 1": (
        "UPDATE conversations SET title = md5(random()::text) WHERE user_id = $1::uuid AND id = $2::uuid",
        1,
    ),
}
# The statement runs inside a DO block, which takes no parameters: constants of this module and
# two UUIDs made here, written as SQL literals.
LOOP = """
DO $loop$
BEGIN
    FOR i IN 1 .. {count} LOOP
        PERFORM set_config('agentkeep.user_id', {user}, true);
        EXECUTE {statement} USING {user}::uuid, {chat}::uuid, {text};
        COMMIT;
    END LOOP;
END
$loop$
"""


def _cpu_ns(stat: Path) -> int:
    """Nanoseconds the process has run on a CPU (the first field of /proc/<pid>/schedstat)."""
    return int(stat.read_text().split()[0])


def _write(path: Path, text: str) -> None:
    path.write_text(text)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


async def switch(su: asyncpg.Connection, on: bool) -> None:
    for table in TABLES:
        for (name,) in await su.fetch(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = $1::regclass AND tgparentid = 0"
            " AND NOT tgisinternal AND tgname IN ('audit_' || $1, 'audit_' || $1 || '_insert')",
            table,
        ):
            await su.execute(f'ALTER TABLE {table} {"ENABLE" if on else "DISABLE"} TRIGGER "{name}"')


async def measure(urls: DatabaseUrls, rounds: int, count: int) -> dict[tuple[str, bool], float]:
    su = await asyncpg.connect(bench_dsn(urls, "superuser"))
    try:
        await su.execute("SET synchronous_commit = off")
        user, chat = uuid.uuid4(), uuid.uuid4()
        async with su.transaction():
            await su.execute("SELECT set_config('agentkeep.principal', 'operator', true)")
            await su.execute(
                "INSERT INTO users (user_id, email) VALUES ($1, $2)", user, f"{user.hex}@example.com"
            )
            await su.execute("INSERT INTO conversations (user_id, id) VALUES ($1, $2)", user, chat)
        pid = await su.fetchval("SELECT pg_backend_pid()")
        stat = Path(f"/proc/{pid}/schedstat")
        best: dict[tuple[str, bool], float] = {}
        for _ in range(rounds):
            for on in (True, False):
                await switch(su, on)
                for name, (statement, rows) in CASES.items():
                    runs = max(1, count // rows)
                    sql = LOOP.format(
                        count=runs,
                        user=_literal(str(user)),
                        chat=_literal(str(chat)),
                        statement=_literal(statement),
                        text=_literal(TEXT),
                    )
                    started = _cpu_ns(stat)
                    await su.execute(sql)
                    seconds = (_cpu_ns(stat) - started) / 1e9 / runs
                    best[(name, on)] = min(best.get((name, on), seconds), seconds)
        await switch(su, True)
        return best
    finally:
        await su.close()


async def run(args: argparse.Namespace) -> None:
    settings = load_settings(database_url=None, data_dir=data_dir(), database_name=DATABASE)
    keep = await Keep.connect(settings, migrate=True)  # its own database, made and migrated once
    try:
        if args.at:  # e.g. the revision before a trigger change, to measure both on one machine
            await migrate.downgrade(keep.database, args.at)
        best = await measure(keep.database.urls, args.rounds, args.count)
    finally:
        await keep.close()
    if args.json:
        document = {
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "revision": args.at or "latest",
            "rounds": args.rounds,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "cases": {
                name: {"rows": rows, "on_us": best[(name, True)] * 1e6, "off_us": best[(name, False)] * 1e6}
                for name, (_statement, rows) in CASES.items()
            },
        }
        _write(Path(args.json), json.dumps(document, indent=2) + "\n")
    say(f"server CPU per statement, best of {args.rounds} rounds (µs)")
    say(f"{'case':40s} {'audit on':>10s} {'audit off':>10s} {'on - off':>10s} {'per row':>9s}")
    for name, (_statement, rows) in CASES.items():
        on, off = best[(name, True)] * 1e6, best[(name, False)] * 1e6
        say(f"{name:40s} {on:10.1f} {off:10.1f} {on - off:10.1f} {(on - off) / rows:9.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.micro_audit", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds, each on then off (default 5)")
    parser.add_argument("--at", default="", help="measure at this revision (default: the latest)")
    parser.add_argument("--json", default="", help="also write the results to this file")
    parser.add_argument("--count", type=int, default=400, help="rows per case and round (default 400)")
    asyncio.run(run(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

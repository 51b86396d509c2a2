"""Row-level security policies: the sub-select form of revision 0001 against the plain form of 0002.

    python -m benchmarks.bench_policies            # what `make bench` runs after bench_messages
    python -m benchmarks.bench_policies --quick    # fewer rounds, for a smoke test

Citus refuses sub-selects in the policies of distributed tables, so revision 0002 rewrote every
policy from ``user_id = (SELECT NULLIF(current_setting(…))::uuid)`` to the plain expression. This
measures what that costs on plain PostgreSQL, in one run: two databases on the same embedded
server, one migrated to 0001 and one to head, filled alike, and the SDK's ``latest(…, 50)`` and
``append`` timed interleaved on both (benchmarks/harness.py). Writes
benchmarks/results/policies.json; ``make bench`` renders it into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from agentkeep.conversations.service import ConversationService
from agentkeep.database import migrate
from agentkeep.database.bootstrap import drop_database, ensure_database
from agentkeep.database.embedded import EmbeddedServer
from agentkeep.database.engine import Database
from agentkeep.database.urls import DatabaseUrls
from agentkeep.messages.models import NewMessage
from agentkeep.messages.service import MessageService
from agentkeep.principal import Principal
from agentkeep.schema import SCHEMA
from benchmarks import fixture as fixtures
from benchmarks.bench_messages import data_dir, say
from benchmarks.harness import Case, run_group

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "policies.json"
# Revision 0001: policies with the sub-select; 0002: the plain expression (docs/scale-out.md).
VARIANTS = {"subselect": "0001", "plain": "0002"}
TARGET_MESSAGES = 1_000
BACKGROUND_USERS = 100
BACKGROUND_MESSAGES = 100
BATCH = 50
LATEST = 50

INSERT_USER = "INSERT INTO users (user_id, email) VALUES ($1, $2)"


class Variant:
    """One database at one revision, with a user, a filled conversation and one to append to."""

    def __init__(self, name: str, revision: str, database: Database) -> None:
        self.name = name
        self.revision = revision
        self.database = database
        self.messages = MessageService(database)
        self.conversations = ConversationService(database)
        self.user_id = uuid.uuid4()
        self.read_from = uuid.uuid4()
        self.append_to = uuid.uuid4()

    async def add_user(self, user_id: uuid.UUID) -> None:
        # Raw SQL as the application role: the SDK's user creation needs tables of later revisions.
        async with self.database.driver_transaction(Principal.service(user_id)) as tx:
            await tx.driver.execute(INSERT_USER, user_id, f"bench-{user_id.hex}@example.com")

    async def fill(self) -> None:
        for _ in range(BACKGROUND_USERS):
            other = uuid.uuid4()
            await self.add_user(other)
            conversation = await self.conversations.create(other)
            await self._messages(other, conversation.id, BACKGROUND_MESSAGES)
        await self.add_user(self.user_id)
        self.read_from = (await self.conversations.create(self.user_id)).id
        self.append_to = (await self.conversations.create(self.user_id)).id
        await self._messages(self.user_id, self.read_from, TARGET_MESSAGES)

    async def _messages(self, user_id: uuid.UUID, conversation_id: uuid.UUID, count: int) -> None:
        for start in range(0, count, BATCH):
            batch = [
                NewMessage(role="user" if i % 2 == 0 else "assistant", content=fixtures.chat_text(i))
                for i in range(start, min(count, start + BATCH))
            ]
            await self.messages.append_many(user_id, conversation_id, batch)

    def cases(self) -> list[Case]:
        one = NewMessage(role="user", content=fixtures.chat_text(1))

        async def latest() -> None:
            await self.messages.latest(self.user_id, self.read_from, LATEST)

        async def append() -> None:
            await self.messages.append(self.user_id, self.append_to, one)

        return [Case(f"{self.name}_latest_50", latest, 40), Case(f"{self.name}_append", append, 25)]


async def open_variant(server: EmbeddedServer, name: str, revision: str) -> Variant:
    database_name = f"agentkeep_bench_policy_{name}"
    urls = DatabaseUrls.for_embedded(server, database_name)
    await drop_database(urls, database_name)
    await ensure_database(urls, database_name)
    database = Database.from_urls(urls, pool_size=2, schema=SCHEMA)
    await migrate.upgrade(database, revision)
    variant = Variant(name, revision, database)
    await variant.fill()
    return variant


async def measure(rounds: int) -> dict[str, Any]:
    started = time.perf_counter()
    server = EmbeddedServer.start(data_dir())
    variants: list[Variant] = []
    try:
        for name, revision in VARIANTS.items():
            say(f"{name}: a database at revision {revision}, {TARGET_MESSAGES:,} messages to read")
            variants.append(await open_variant(server, name, revision))
        cases = [case for variant in variants for case in variant.cases()]
        say(f"timing {', '.join(case.name for case in cases)}")
        await run_group(cases, rounds=rounds, warmup_rounds=max(2, rounds // 10), say=say)
        results = {case.name: case.summary() for case in cases}
    finally:
        for variant in variants:
            await variant.database.close()
        server.stop()
    ratios = {
        operation: results[f"plain_{operation}"]["median_us"] / results[f"subselect_{operation}"]["median_us"]
        for operation in ("latest_50", "append")
    }
    return {
        "benchmark": "policies",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "variants": VARIANTS,
        "rounds": rounds,
        "results": results,
        "plain_over_subselect": ratios,
        "total_seconds": time.perf_counter() - started,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_policies", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=40, help="measured rounds (default 40)")
    parser.add_argument("--quick", action="store_true", help="4 rounds: a smoke test, not a measurement")
    parser.add_argument("--json", default=str(RESULTS))
    args = parser.parse_args(argv)
    document = asyncio.run(measure(4 if args.quick else args.rounds))
    for operation, ratio in document["plain_over_subselect"].items():
        say(f"{operation}: plain policy / sub-select policy = {ratio:.3f} (median/median)")
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    say(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

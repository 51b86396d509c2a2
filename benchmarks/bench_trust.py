"""Trust: recording a decision outcome (the feedback, with the database's trust update in the same
transaction) and approving an agent activity, for a (user, agent) with 10 prior decisions and for
one with 100,000.

    python -m benchmarks.bench_trust            # what `make bench` runs
    python -m benchmarks.bench_trust --quick    # fewer rounds, for a smoke test

One database on the embedded benchmark server (``agentic`` profile), made and filled on first use
and reused after: one user; a "large" agent with 100,000 approved decisions (each applied by the
trigger as it was inserted, so its counters, its 200,000 trust metrics and their audit entries are
all there); and a pool of "small" agents with exactly 10 approved decisions each. Every timed
operation is ``keep.decisions.set_feedback(..., "approved")`` on a decision of that pair without
feedback yet, through the SDK. A small operation takes a fresh small agent each time, so every one
of them runs at exactly 10 prior decisions; the large pair grows by at most a few hundred.
Neither changes level while timed (10 approvals reach L2, the next earns nothing yet; the large
pair is at L4, the top), so both sides run the same statements. Approving: an ``intervention``
activity of the pair's session, proposed beforehand and waiting in ``pending_consent`` (the
user's ``global`` tier is below what the profile asks of an intervention), approved through
``keep.activities.approve`` (the lifecycle trigger, the consent log, the audit entries). The
harness interleaves the cases round by round, so both see the same machine.

Writes benchmarks/results/trust.json; docs/benchmarks.md shows it (benchmarks/report_trust.py).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from agentkeep.activities.models import NewActivity
from agentkeep.decisions.models import FeedbackChange
from agentkeep.ids import new_id
from agentkeep.keep import Keep
from agentkeep.settings import load_settings
from agentkeep.users.models import NewUser
from benchmarks import fixture as fixtures
from benchmarks import report
from benchmarks.bench_messages import ROOT, data_dir, say
from benchmarks.harness import Case, run_group
from benchmarks.report_trust import targets

DATABASE = "agentkeep_bench_trust"
LARGE = 100_000
SMALL = 10
BATCH = 5_000
PER_ROUND = 10
LARGE_AGENT = "bench-trust-large"
APPROVED = FeedbackChange(user_feedback="approved")


async def _begin(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    await conn.execute("BEGIN")
    await conn.execute(f"SET LOCAL agentkeep.user_id = '{uuid.UUID(str(user_id))}'")


async def _agent_and_session(
    conn: asyncpg.Connection, user_id: uuid.UUID, name: str
) -> tuple[uuid.UUID, uuid.UUID]:
    """An agent (as a service) and one running session of it for the user."""
    agent_id, session_id = new_id(), new_id()
    await conn.execute("BEGIN")
    await conn.execute("SET LOCAL agentkeep.principal = 'service'")
    await conn.execute(
        "INSERT INTO agents (id, name, persona_type) VALUES ($1, $2, 'developer')", agent_id, name
    )
    await conn.execute("COMMIT")
    await _begin(conn, user_id)
    await conn.execute(
        "INSERT INTO agent_sessions (user_id, id, agent_id, agent_type) VALUES ($1, $2, $3, 'developer')",
        user_id,
        session_id,
        agent_id,
    )
    await conn.execute("COMMIT")
    return agent_id, session_id


async def _decisions(
    conn: asyncpg.Connection, user_id: uuid.UUID, session_id: uuid.UUID, count: int, *, approved: bool
) -> list[uuid.UUID]:
    """``count`` decisions of the session, approved (the trigger applies each) or without feedback."""
    ids = [new_id() for _ in range(count)]
    feedback = ("'approved'", "'service'", "now()") if approved else ("NULL", "NULL", "NULL")
    await _begin(conn, user_id)
    await conn.execute(
        "INSERT INTO decisions (user_id, id, agent_session_id, decision_type, user_feedback, feedback_by,"
        f" feedback_at) SELECT $1, d, $2, 'code_generation', {', '.join(feedback)}"
        " FROM unnest($3::uuid[]) AS d",
        user_id,
        session_id,
        ids,
    )
    await conn.execute("COMMIT")
    return ids


async def _large_pair(keep: Keep, conn: asyncpg.Connection) -> tuple[uuid.UUID, uuid.UUID]:
    """The user and the large pair's session, filled to LARGE approved decisions (made on first
    use; a partial fill resumes)."""
    su = await asyncpg.connect(fixtures.bench_dsn(keep.database.urls, "superuser"))
    try:
        row = await su.fetchrow(
            "SELECT s.user_id, s.id AS session_id, coalesce(t.outcomes, 0) AS outcomes FROM agent_sessions s"
            " JOIN agents a ON a.id = s.agent_id LEFT JOIN agent_trust_levels t"
            " ON t.user_id = s.user_id AND t.agent_id = s.agent_id WHERE a.name = $1",
            LARGE_AGENT,
        )
    finally:
        await su.close()
    if row is None:
        user = await keep.users.create(NewUser(email=f"bench-trust-{uuid.uuid4().hex[:12]}@example.com"))
        user_id = user.user_id
        _agent, session_id = await _agent_and_session(conn, user_id, LARGE_AGENT)
        done = 0
    else:
        user_id, session_id, done = row["user_id"], row["session_id"], int(row["outcomes"])
    started = time.perf_counter()
    while done < LARGE:
        step = min(BATCH, LARGE - done)
        await _decisions(conn, user_id, session_id, step, approved=True)
        done += step
        say(f"  large pair: {done:,} approved decisions ({time.perf_counter() - started:.0f} s)")
    return user_id, session_id


class Pairs:
    """The decisions the timed operations give feedback to, prepared before any timing."""

    def __init__(
        self, keep: Keep, user_id: uuid.UUID, large: list[uuid.UUID], small: list[uuid.UUID]
    ) -> None:
        self.keep = keep
        self.user_id = user_id
        self.large = large
        self.small = small
        self.large_activities: list[uuid.UUID] = []
        self.small_activities: list[uuid.UUID] = []

    async def propose(self, session_id: uuid.UUID) -> uuid.UUID:
        """An activity of the session that waits for the user's consent (untimed)."""
        new = NewActivity(
            agent_name="bench", activity_type="intervention", title="bench", agent_session_id=session_id
        )
        activity = await self.keep.activities.propose(self.user_id, new)
        if activity.status != "pending_consent":
            raise RuntimeError(f"a benchmark activity should wait for consent, it is {activity.status}")
        return activity.id

    async def approve_large(self) -> None:
        await self.keep.activities.approve(self.user_id, self.large_activities.pop())

    async def approve_small(self) -> None:
        await self.keep.activities.approve(self.user_id, self.small_activities.pop())

    async def record_large(self) -> None:
        await self.keep.decisions.set_feedback(self.user_id, self.large.pop(), APPROVED)

    async def record_small(self) -> None:
        await self.keep.decisions.set_feedback(self.user_id, self.small.pop(), APPROVED)


async def prepare(keep: Keep, operations: int) -> tuple[Pairs, dict[str, Any]]:
    conn = await asyncpg.connect(fixtures.bench_dsn(keep.database.urls, "app"))
    try:
        user_id, large_session = await _large_pair(keep, conn)
        large = await _decisions(conn, user_id, large_session, operations, approved=False)
        pairs = Pairs(keep, user_id, large, [])
        say(f"small pairs: {operations} agents with {SMALL} approved decisions each")
        for _ in range(operations):
            _agent, session_id = await _agent_and_session(
                conn, user_id, f"bench-trust-{uuid.uuid4().hex[:12]}"
            )
            await _decisions(conn, user_id, session_id, SMALL, approved=True)
            pairs.small += await _decisions(conn, user_id, session_id, 1, approved=False)
            pairs.small_activities.append(await pairs.propose(session_id))
            pairs.large_activities.append(await pairs.propose(large_session))
        await _begin(conn, user_id)
        facts = dict(
            await conn.fetchrow(
                "SELECT t.outcomes AS large_outcomes, t.level AS large_level,"
                " (SELECT count(*) FROM trust_metrics m"
                "   WHERE m.user_id = t.user_id AND m.agent_id = t.agent_id) AS large_metrics"
                " FROM agent_trust_levels t JOIN agents a ON a.id = t.agent_id WHERE a.name = $1",
                LARGE_AGENT,
            )
        )
        await conn.execute("COMMIT")
    finally:
        await conn.close()
    return pairs, facts


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    settings = load_settings(database_url=None, data_dir=data_dir(), database_name=DATABASE)
    keep = await Keep.connect(settings, migrate=True, apply_profile="agentic")
    try:
        say(f"embedded PostgreSQL in {data_dir()}, database {DATABASE}")
        warmup = max(2, args.rounds // 10)
        pairs, before = await prepare(keep, (args.rounds + warmup) * PER_ROUND)
        say(f"large pair: {before['large_outcomes']:,} outcomes, level {before['large_level']}")
        su = await asyncpg.connect(fixtures.bench_dsn(keep.database.urls, "superuser"))
        try:
            server = await report.server_facts(su)
        finally:
            await su.close()
        cases = [
            Case("outcome_at_10", pairs.record_small, PER_ROUND),
            Case("outcome_at_100000", pairs.record_large, PER_ROUND),
            Case("approve_at_10", pairs.approve_small, PER_ROUND),
            Case("approve_at_100000", pairs.approve_large, PER_ROUND),
        ]
        duration = await run_group(cases, rounds=args.rounds, warmup_rounds=warmup, say=say)
        results = {case.name: case.summary() for case in cases}
    finally:
        await keep.close()
    return {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": report.machine_facts(),
        "server": server,
        "rounds": args.rounds,
        "per_round": PER_ROUND,
        "prior": {"small": SMALL, "large": int(before["large_outcomes"])},
        "large_metrics": int(before["large_metrics"]),
        "results": results,
        "duration_seconds": duration,
        "total_seconds": time.perf_counter() - started,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    document = asyncio.run(measure(args))
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    say(f"wrote {path}")
    for what, measured, required, passed in targets(document):
        say(f"  {what}: {measured:.2f} (required {required}) {'PASS' if passed else 'MISS'}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_trust", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=30, help="measured rounds (default 30)")
    parser.add_argument("--quick", action="store_true", help="6 rounds: a smoke test, not a measurement")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "trust.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = 6
    return args


if __name__ == "__main__":
    sys.exit(main())

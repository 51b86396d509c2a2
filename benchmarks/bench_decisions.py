"""Encrypted decisions: storing and reading a decision whose card and debate are sealed, beside the
same decision stored in plaintext.

    python -m benchmarks.bench_decisions            # what `make bench` runs
    python -m benchmarks.bench_decisions --quick    # fewer rounds, for a smoke test

Two databases on the embedded benchmark server, made and migrated on first use: one runs the
``kai`` profile (decision card and debate transcript sealed with the user's data key, AES-256-GCM),
the other a profile that extends ``kai`` and seals nothing. The same decision (a 4 KB card, a
16 KB transcript, a ticker) is stored (``keep.decisions.create``) and read back by id
(``keep.decisions.get``, which opens the sealed parts) in each, by one user, through the SDK.
The harness interleaves the four cases round by round, so both see the same machine.

Writes benchmarks/results/decisions.json; docs/benchmarks.md shows it (benchmarks/report_decisions.py).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from random import Random
from typing import Any

import asyncpg

from agentkeep.agent_sessions.models import NewAgentSession
from agentkeep.decisions.models import NewDecision
from agentkeep.keep import Keep
from agentkeep.profiles.loader import load_profile
from agentkeep.settings import load_settings
from agentkeep.users.models import NewUser
from benchmarks import fixture as fixtures
from benchmarks import report
from benchmarks.bench_messages import ROOT, data_dir, say
from benchmarks.harness import Case, run_group
from benchmarks.report_decisions import targets

CARD_BYTES = 4 * 1024
TRANSCRIPT_BYTES = 16 * 1024
ENCRYPTED_DATABASE = "agentkeep_bench_decisions_sealed"
PLAINTEXT_DATABASE = "agentkeep_bench_decisions_plain"
# The kai profile with nothing sealed: the plaintext side of the comparison.
PLAIN_PROFILE = """\
schema_version = 1
name = "kai_plaintext"
version = "1.0.0"
title = "Agent Kai, nothing sealed (benchmark)"
extends = "kai"

[decisions]
encrypted_fields = []

[provenance]
"decisions.encrypted_fields" = "silent: the benchmark's plaintext side"
"""


WORDS = (  # noqa: SIM905 - one line of words reads better than a column of them
    "revenue margin growth guidance supply demand valuation multiple risk upside downside quarter "
    "earnings cash flow debt buyback dividend competition moat pricing inventory cycle rates "
    "inflation consumer enterprise cloud data center chips export rules customers churn backlog "
    "forecast analyst consensus beat miss raise cut hold buy reduce position size stop target "
    "the a of to and in on for with that this is was will may could should because while but"
).split()


def _prose(random: Random, size: int, speakers: tuple[str, ...] = ("bull", "bear")) -> str:
    """Text that compresses about as well as prose (a fixed repeated line would compress to
    nothing in PostgreSQL's TOAST and flatter the plaintext side)."""
    parts: list[str] = []
    length = 0
    while length < size:
        turn = f"{speakers[len(parts) % len(speakers)]}: " + " ".join(random.choices(WORDS, k=24)) + ".\n"
        parts.append(turn)
        length += len(turn)
    return "".join(parts)[:size]


def decision(session_id: uuid.UUID) -> NewDecision:
    """A decision with a 4 KB card (JSON) and a 16 KB debate transcript, as Kai writes them."""
    random = Random(9)  # the same decision on both sides, run after run
    transcript = _prose(random, TRANSCRIPT_BYTES)
    card: dict[str, Any] = {"ticker": "NVDA", "verdict": "buy", "points": []}
    while len(json.dumps(card)) < CARD_BYTES - 200:
        card["points"].append(_prose(random, 150, ("point",)))
    return NewDecision(
        decision_type="buy",
        agent_session_id=session_id,
        subject="NVDA",
        input_context={"price": 131.2, "horizon": "12m"},
        action_taken={"order": "limit", "size": 10},
        decision_card=card,
        debate_transcript=transcript,
        confidence_score=Decimal("0.82"),
        execution_time_ms=900,
    )


class Side:
    """One database, one user, one agent session: stores and reads the same decision."""

    def __init__(self, keep: Keep, user_id: uuid.UUID, new: NewDecision) -> None:
        self.keep = keep
        self.user_id = user_id
        self.new = new
        self.stored: list[uuid.UUID] = []

    @classmethod
    async def open(cls, database: str, profile: str) -> Side:
        settings = load_settings(database_url=None, data_dir=data_dir(), database_name=database)
        keep = await Keep.connect(settings, migrate=True, apply_profile=profile)
        user = await keep.users.create(NewUser(email=f"bench-decisions-{uuid.uuid4().hex[:12]}@example.com"))
        session = await keep.agent_sessions.create(user.user_id, NewAgentSession(agent_type="kai"))
        side = cls(keep, user.user_id, decision(session.id))
        await side.store()  # the user's data key is made here, not in a timed operation
        return side

    async def store(self) -> None:
        self.stored.append((await self.keep.decisions.create(self.user_id, self.new)).id)

    async def read(self) -> None:
        got = await self.keep.decisions.get(self.user_id, self.stored[-1])
        assert got.debate_transcript is not None
        assert len(got.debate_transcript) == TRANSCRIPT_BYTES


async def rotation(keep: Keep, decisions: int) -> dict[str, Any]:
    """``keys rotate USER`` (keep.vault.rotate_user) over a user with ``decisions`` sealed decisions:
    each has two sealed values (card and debate), each re-encrypted under the new key."""
    user = await keep.users.create(NewUser(email=f"bench-rotate-{uuid.uuid4().hex[:12]}@example.com"))
    session = await keep.agent_sessions.create(user.user_id, NewAgentSession(agent_type="kai"))
    new = decision(session.id)
    say(f"rotation: storing {decisions:,} decisions for one user")
    for _ in range(decisions):
        await keep.decisions.create(user.user_id, new)
    report_ = await keep.vault.rotate_user(user.user_id)
    assert report_.finished
    say(f"rotation: {report_.rows:,} values in {report_.seconds:.1f} s")
    return {
        "decisions": decisions,
        "rows": report_.rows,
        "seconds": report_.seconds,
        "rows_per_s": report_.rows_per_second,
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="akbenchdecisions") as folder:
        plain_profile = Path(folder) / "kai_plaintext.toml"
        plain_profile.write_text(PLAIN_PROFILE)
        load_profile(str(plain_profile))  # refused here, before any database, if it were wrong
        sealed = await Side.open(ENCRYPTED_DATABASE, "kai")
        plain = await Side.open(PLAINTEXT_DATABASE, str(plain_profile))
    try:
        say(f"embedded PostgreSQL in {data_dir()}, databases {ENCRYPTED_DATABASE} and {PLAINTEXT_DATABASE}")
        su = await asyncpg.connect(fixtures.bench_dsn(sealed.keep.database.urls, "superuser"))
        try:
            server = await report.server_facts(su)
        finally:
            await su.close()
        check = await sealed.keep.decisions.get(sealed.user_id, sealed.stored[0])
        assert check.encrypted_fields == ["decision_card", "debate_transcript"], check.encrypted_fields
        assert (await plain.keep.decisions.get(plain.user_id, plain.stored[0])).encrypted_fields == []
        cases = [
            Case("store_encrypted", sealed.store, 10),
            Case("store_plaintext", plain.store, 10),
            Case("read_encrypted", sealed.read, 20),
            Case("read_plaintext", plain.read, 20),
        ]
        say(", ".join(case.name for case in cases))
        duration = await run_group(
            cases, rounds=args.rounds, warmup_rounds=max(2, args.rounds // 10), say=say
        )
        results = {case.name: case.summary() for case in cases}
        rotate = await rotation(sealed.keep, args.rotate_decisions)
    finally:
        await sealed.keep.close()
        await plain.keep.close()
    return {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": report.machine_facts(),
        "server": server,
        "rounds": args.rounds,
        "card_bytes": CARD_BYTES,
        "transcript_bytes": TRANSCRIPT_BYTES,
        "results": results,
        "rotate": rotate,
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
        prog="python -m benchmarks.bench_decisions", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=30, help="measured rounds (default 30)")
    parser.add_argument("--quick", action="store_true", help="4 rounds: a smoke test, not a measurement")
    parser.add_argument(
        "--rotate-decisions", type=int, default=2_000, help="decisions of the user rotated (default 2000)"
    )
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "decisions.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = 4
        args.rotate_decisions = 200
    return args


if __name__ == "__main__":
    sys.exit(main())

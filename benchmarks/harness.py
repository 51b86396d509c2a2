"""Interleaved timing: every case of a group runs a block in turn, round after round.

Rounds rotate the order, so no case always follows the same neighbour, and a slow stretch of the
machine (autovacuum, a checkpoint, a noisy neighbour) falls on every case instead of one. Each
operation is timed on its own with ``perf_counter_ns``; the first rounds are warm-up and dropped.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Case:
    name: str
    op: Callable[[], Awaitable[Any]]
    per_round: int
    items: int = 1
    """Messages one operation moves (for messages/s)."""
    samples: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.samples)
        n = len(ordered)
        median_ns = statistics.median(ordered)
        p95_ns = ordered[min(n - 1, max(0, round(0.95 * n) - 1))]
        return {
            "n": n,
            "items": self.items,
            "median_us": median_ns / 1e3,
            "p95_us": p95_ns / 1e3,
            "mean_us": statistics.fmean(ordered) / 1e3,
            "min_us": ordered[0] / 1e3,
            "ops_per_s": 1e9 / median_ns,
            "messages_per_s": self.items * 1e9 / median_ns,
        }


async def run_group(
    cases: list[Case], *, rounds: int, warmup_rounds: int, say: Callable[[str], None] | None = None
) -> float:
    """Run the group; samples land in each case. Returns the seconds it took."""
    started = time.perf_counter()
    perf = time.perf_counter_ns
    total = warmup_rounds + rounds
    for r in range(total):
        shift = r % len(cases)
        for case in cases[shift:] + cases[:shift]:
            # Garbage one case left behind is collected here, not charged to the next.
            gc.collect()
            op = case.op
            keep = r >= warmup_rounds
            for _ in range(case.per_round):
                t0 = perf()
                await op()
                elapsed = perf() - t0
                if keep:
                    case.samples.append(elapsed)
        if say is not None and (r + 1) % max(1, total // 5) == 0:
            say(f"  round {r + 1}/{total} ({time.perf_counter() - started:.0f} s)")
    return time.perf_counter() - started

"""The trust section of docs/benchmarks.md, from benchmarks/results/trust.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "trust.json"
# Recording an outcome at 100,000 prior decisions may take at most this much longer than at 10
# (issue 10: the trust update keeps running aggregates, it never rescans).
AT_MOST = 1.2


def targets(document: dict[str, Any]) -> list[tuple[str, float, str, bool]]:
    """(what, measured, required, passed)."""
    results = document["results"]
    ratio = results["outcome_at_100000"]["median_us"] / results["outcome_at_10"]["median_us"]
    large = document["prior"]["large"]
    what = f"record a decision outcome: at {large:,} / at {document['prior']['small']} prior decisions"
    return [(what, ratio, f"≤ {AT_MOST}", ratio <= AT_MOST)]


def section() -> str:
    if not RESULTS.exists():
        return "(Not measured yet: `python -m benchmarks.bench_trust`.)"
    document = json.loads(RESULTS.read_text())
    results = document["results"]
    prior = document["prior"]
    median_rows = "\n".join(
        f"| {label} | {results[name]['median_us']:,.0f} | {results[name]['p95_us']:,.0f} "
        f"| {results[name]['n']:,} |"
        for name, label in (
            ("outcome_at_10", f"{prior['small']} prior decisions"),
            ("outcome_at_100000", f"{prior['large']:,} prior decisions"),
        )
    )
    target_rows = "\n".join(
        f"| {what} | {measured:,.2f} | {required} | **{'PASS' if passed else 'MISS'}** |"
        for what, measured, required, passed in targets(document)
    )
    load = ", ".join(str(x) for x in document["machine"].get("load_average", [])) or "unknown"
    return f"""\
Run of {document["generated_at"]} (`python -m benchmarks.bench_trust`, {document["rounds"]} rounds of
{document["per_round"]} per case, load average {load}). Recording a decision outcome
(`keep.decisions.set_feedback`, approved) through the SDK: the decision's update and, in the same
transaction, the database's trust update (the (user, agent) row locked and its counters moved, the
rules checked, two trust metrics written, each write audited). One side is a (user, agent) with
{prior["small"]} approved decisions (a fresh one for every operation), the other one with
{prior["large"]:,} (and {document["large_metrics"]:,} trust metrics); the cases interleave round by
round. Medians and p95 in µs, one operation.

| Prior decisions of the (user, agent) | Median | p95 | Samples |
|---|---:|---:|---:|
{median_rows}

| Target | Measured | Required | |
|---|---:|---:|---|
{target_rows}

Approving an agent activity at 10 and at 100,000 prior decisions is measured once the consent
capability's activities are merged (issue 10)."""

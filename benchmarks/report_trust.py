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
    large, small = document["prior"]["large"], document["prior"]["small"]
    found = []
    for case, label in (("outcome", "record a decision outcome"), ("approve", "approve an agent activity")):
        if f"{case}_at_10" not in results:
            continue  # a run from before the activities were measured
        ratio = results[f"{case}_at_100000"]["median_us"] / results[f"{case}_at_10"]["median_us"]
        what = f"{label}: at {large:,} / at {small} prior decisions"
        found.append((what, ratio, f"≤ {AT_MOST}", ratio <= AT_MOST))
    return found


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
            ("outcome_at_10", f"record an outcome, {prior['small']} prior decisions"),
            ("outcome_at_100000", f"record an outcome, {prior['large']:,} prior decisions"),
            ("approve_at_10", f"approve an activity, {prior['small']} prior decisions"),
            ("approve_at_100000", f"approve an activity, {prior['large']:,} prior decisions"),
        )
        if name in results
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
round. Approving an agent activity (`keep.activities.approve` of an intervention waiting in
`pending_consent`: the lifecycle trigger, the consent log, the audit entries) is measured the same
way, on the same two pairs. Medians and p95 in µs, one operation.

| Operation | Median | p95 | Samples |
|---|---:|---:|---:|
{median_rows}

| Target | Measured | Required | |
|---|---:|---:|---|
{target_rows}"""

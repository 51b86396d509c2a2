# ruff: noqa: RUF001  (the prose uses the multiplication sign on purpose)
"""The parts of docs/benchmarks.md that compare this run with stored ones (benchmarks/results/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BASELINE = Path(__file__).resolve().parent / "results" / "before-sdk-changes.json"
# Earlier runs kept to compare against: their ratios to the floor (measured within each run, so
# comparable across runs and machines load) beside this run's.
EARLIER_RUNS = ("before-issue-5.json",)
HISTORY_CASES = ("sdk_latest_10", "sdk_latest_1000", "sdk_latest_10000", "sdk_append", "sdk_append_many_50")


def since_baseline(document: dict[str, Any]) -> str:
    if not BASELINE.exists():
        return "(No baseline file: benchmarks/results/before-sdk-changes.json.)"
    before = json.loads(BASELINE.read_text())
    rows = []
    for name in HISTORY_CASES:
        b, n = before["results"][name]["median_us"], document["results"][name]["median_us"]
        rows.append(f"| `{name}` median µs | {b:,.0f} | {n:,.0f} | {b / n:.2f}× |")
    targets_before = {t["key"]: t for t in before["targets"]}
    for t in document["targets"]:
        b = targets_before.get(t["key"])
        if b is not None:
            rows.append(f"| {t['target']} | {b['measured']:.2f} | {t['measured']:.2f} | |")
    table = "\n".join(rows)
    label = before.get("label", "")
    return f"""\
The run of {before["when"]} (before: {label}) against this one (after), same machine, same
fill:

| | Before | After | Speed-up |
|---|---:|---:|---:|
{table}"""


def earlier_runs(document: dict[str, Any]) -> str:
    """Each stored earlier run's target ratios beside this run's (a ratio is SDK against the
    floor of the same run, so it compares across runs where raw medians would not)."""
    sections = []
    for name in EARLIER_RUNS:
        path = BASELINE.parent / name
        if not path.exists():
            continue
        before = json.loads(path.read_text())
        measured_then = {t["key"]: t["measured"] for t in before["targets"]}
        rows = "\n".join(
            f"| {t['target']} | {measured_then[t['key']]:.2f} | {t['measured']:.2f} |"
            for t in document["targets"]
            if t["key"] in measured_then
        )
        then_cpu, now_cpu = before["machine"]["cpu_model"], document["machine"]["cpu_model"]
        machines = (
            f"both on {now_cpu}"
            if then_cpu == now_cpu
            else f"then on {then_cpu}, now on {now_cpu}: a ratio against langchain, whose load is CPU "
            "where ours is round trips, moves with the processor"
        )
        sections.append(
            f"The run of {before['when']} ({before.get('label', name)}) against this one ({machines}):\n\n"
            f"| Target | Then | Now |\n|---|---:|---:|\n{rows}"
        )
    return "\n\n".join(sections) or "(No earlier runs stored in benchmarks/results/.)"


def policies() -> str:
    """The policy benchmark (benchmarks/bench_policies.py), when it has been run."""
    path = BASELINE.parent / "policies.json"
    if not path.exists():
        return "(Not measured yet: `python -m benchmarks.bench_policies`.)"
    document = json.loads(path.read_text())
    results = document["results"]
    rows = "\n".join(
        f"| {label} | {results[f'subselect_{key}']['median_us']:,.0f} | "
        f"{results[f'plain_{key}']['median_us']:,.0f} | {document['plain_over_subselect'][key]:.3f} |"
        for key, label in (("latest_50", "SDK `latest(…, 50)`, 1,000 messages"), ("append", "SDK `append`"))
    )
    return f"""\
Revision 0002 rewrote every policy from `user_id = (SELECT NULLIF(current_setting(…), '')::uuid)`
(revision 0001) to `user_id = NULLIF(current_setting(…), '')::uuid`, since Citus refuses
sub-selects in the policies of distributed tables. Run of {document["when"]}: two databases on the
same server, one at 0001 and one at 0002, filled alike, timed interleaved ({document["rounds"]}
rounds); medians in µs.

| Operation | Sub-select (0001) | Plain (0002) | Plain / sub-select |
|---|---:|---:|---:|
{{rows}}

Through a Citus coordinator (3 nodes on one 2-core machine's loopback) the same operations were
timed by the scale-out work at about 1,000 µs for latest-50 (2.4× plain) and 2,780 µs for an
append (5× plain): every statement crosses to a worker, and a write commits on two nodes.""".replace(
        "{rows}", rows
    )

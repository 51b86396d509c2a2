"""The audit and partitions section of docs/benchmarks.md, from benchmarks/results/audit.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "audit.json"
# (case stem, label, the most overhead auditing may add: on/off median - 1)
WRITES = (
    ("append_1_user", "append 1 message, 1 user", 0.25),
    ("append_16_users", "append 1 message, 16 users at once", 0.25),
    ("append_50_1_user", "append a batch of 50, 1 user", 0.35),
    ("append_50_16_users", "append a batch of 50, 16 users at once", 0.35),
    ("update_1_user", "update (rename a conversation), 1 user", 0.25),
    ("update_16_users", "update (rename a conversation), 16 users at once", 0.25),
)
LATEST_WITHIN = 1.1
VERIFY_AT_LEAST = 100_000


def targets(document: dict[str, Any]) -> list[tuple[str, float, str, bool]]:
    """(what, measured, required, passed) for every promise the issue makes."""
    results = document["results"]
    rows: list[tuple[str, float, str, bool]] = []
    for stem, label, allowed in WRITES:
        ratio = results[f"{stem}_audit_on"]["median_us"] / results[f"{stem}_audit_off"]["median_us"]
        rows.append((f"{label}: audit on / off", ratio, f"≤ {1 + allowed:.2f}", ratio <= 1 + allowed))
    for size in (10, 1_000, 10_000):
        ratio = (
            results[f"latest_{size}_partitioned"]["median_us"] / results[f"latest_{size}_flat"]["median_us"]
        )
        rows.append(
            (
                f"latest 50 of {size:,}: partitioned / unpartitioned",
                ratio,
                f"≤ {LATEST_WITHIN}",
                ratio <= LATEST_WITHIN,
            )
        )
    rate = document["verify"]["entries_per_s"]
    rows.append(
        ("`audit verify`, entries per second", rate, f"≥ {VERIFY_AT_LEAST:,}", rate >= VERIFY_AT_LEAST)
    )
    return rows


def section() -> str:
    if not RESULTS.exists():
        return "(Not measured yet: `python -m benchmarks.bench_audit`.)"
    document = json.loads(RESULTS.read_text())
    results = document["results"]
    audit = document["audit"]
    verify = document["verify"]
    median_rows = "\n".join(
        f"| {label} | {results[f'{stem}_audit_on']['median_us']:,.0f} | "
        f"{results[f'{stem}_audit_off']['median_us']:,.0f} | {results[f'{stem}_audit_on']['n']:,} |"
        for stem, label, _ in WRITES
    )
    latest_rows = "\n".join(
        f"| latest 50 of {size:,} | {results[f'latest_{size}_partitioned']['median_us']:,.0f} | "
        f"{results[f'latest_{size}_flat']['median_us']:,.0f} |"
        for size in (10, 1_000, 10_000)
    )
    target_rows = "\n".join(
        f"| {what} | {measured:,.2f} | {required} | **{'PASS' if passed else 'MISS'}** |"
        for what, measured, required, passed in targets(document)
    )
    load = ", ".join(f"{value:.1f}" for value in document["machine"]["load_average"])
    return f"""\
Run of {document["generated_at"]} (`python -m benchmarks.bench_audit`, {document["rounds"]} rounds,
{document["concurrent_users"]} concurrent users through the SDK's pool; load average {load} at the
end, on {document["machine"]["nproc"]} cores), on the same fill. Auditing
"off" disables the two tables' audit triggers for that case's blocks only; blocks of on and off
interleave. Medians in µs, one operation (for 16 users: all 16 at once, until the last returns).

| Write | Audit on | Audit off | Samples |
|---|---:|---:|---:|
{median_rows}

| Latest 50 (floor SQL, app role, RLS, SDK pool settings) | Partitioned `messages` | Unpartitioned |
|---|---:|---:|
{latest_rows}

| Target | Measured | Required | |
|---|---:|---:|---|
{target_rows}

The audit log holds {audit["entries"]:,} entries ({audit["message_entries"]:,} of them for messages)
in {audit["audit_bytes"] / 2**20:,.0f} MiB with its indexes: {audit["audit_bytes_per_entry"]:,.0f}
bytes an entry, beside {audit["messages_bytes_per_message"]:,.0f} bytes a message in `messages`
(table and indexes). `audit verify` recomputed {verify["entries"]:,} entries of
{verify["chains"]:,} chains in {verify["seconds"]:.1f} s; with the live-row check (every live row of
every audited table against its last entry) it took {verify["with_live_rows_seconds"]:.1f} s
({verify["with_live_rows_entries_per_s"]:,.0f} entries/s). The trail verified
{"clean" if verify["clean"] else "with problems (see the run's output)"}."""

"""The encrypted-decisions section of docs/benchmarks.md, from benchmarks/results/decisions.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "decisions.json"
# Encrypted throughput must be at least this share of plaintext throughput (issue 9).
AT_LEAST = 0.7
OPERATIONS = (("store", "store (`keep.decisions.create`)"), ("read", "read by id (`keep.decisions.get`)"))


def targets(document: dict[str, Any]) -> list[tuple[str, float, str, bool]]:
    """(what, measured, required, passed): encrypted / plaintext throughput, per operation."""
    results = document["results"]
    rows = []
    for stem, label in OPERATIONS:
        # Throughput is 1 / median time: the ratio of throughputs is plaintext / encrypted time.
        ratio = results[f"{stem}_plaintext"]["median_us"] / results[f"{stem}_encrypted"]["median_us"]
        rows.append((f"{label}: encrypted / plaintext throughput", ratio, f"≥ {AT_LEAST}", ratio >= AT_LEAST))
    return rows


def section() -> str:
    if not RESULTS.exists():
        return "(Not measured yet: `python -m benchmarks.bench_decisions`.)"
    document = json.loads(RESULTS.read_text())
    results = document["results"]
    median_rows = "\n".join(
        f"| {label} | {results[f'{stem}_encrypted']['median_us']:,.0f} | "
        f"{results[f'{stem}_plaintext']['median_us']:,.0f} | {results[f'{stem}_encrypted']['p95_us']:,.0f} | "
        f"{results[f'{stem}_plaintext']['p95_us']:,.0f} | {results[f'{stem}_encrypted']['n']:,} |"
        for stem, label in OPERATIONS
    )
    target_rows = "\n".join(
        f"| {what} | {measured:,.2f} | {required} | **{'PASS' if passed else 'MISS'}** |"
        for what, measured, required, passed in targets(document)
    )
    rotate = document.get("rotate")
    rotation = (
        f"`keys rotate USER` (`keep.vault.rotate_user`, batches of 500, one transaction each) on a user "
        f"with {rotate['decisions']:,} such decisions re-encrypted {rotate['rows']:,} values (card and "
        f"debate of each) in {rotate['seconds']:.1f} s: **{rotate['rows_per_s']:,.0f} values per second**."
        if rotate
        else "`keys rotate USER` is not measured in this run."
    )
    return f"""\
Run of {document["generated_at"]} (`python -m benchmarks.bench_decisions`, {document["rounds"]} rounds, one
user, through the SDK). The same decision — a {document["card_bytes"] // 1024} KB decision card, a
{document["transcript_bytes"] // 1024} KB debate transcript, a ticker — stored and read in a database
running the `kai` profile (card and debate sealed with the user's data key, AES-256-GCM) and in one
running `kai` with nothing sealed, on the same server; the cases interleave round by round. Medians
and p95 in µs, one operation.

| Operation | Encrypted median | Plaintext median | Encrypted p95 | Plaintext p95 | Samples |
|---|---:|---:|---:|---:|---:|
{median_rows}

| Target | Measured | Required | |
|---|---:|---:|---|
{target_rows}

Where the encrypted store's extra time goes: one read of the user's active key (`FOR SHARE`, so a
`keys rotate` waits for the write), AES-GCM itself (microseconds for 20 KB), and above all bytes
written: ciphertext does not compress, so its TOAST chunks and WAL are the full 20 KB where prose
compresses, and the audit trail's row entry holds the envelope hex-encoded (twice its size). The
benchmark's card and transcript are prose-like text from a fixed seed (a repeated line would
compress to almost nothing and flatter the plaintext side). A read opens both parts with one
cached key: there the difference is the bytes fetched.

{rotation}"""

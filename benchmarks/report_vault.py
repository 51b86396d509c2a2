"""The vault section of docs/benchmarks.md, from benchmarks/results/vault.json."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "vault.json"


def section() -> str:
    if not RESULTS.exists():
        return "(Not measured yet: `python -m benchmarks.bench_vault`.)"
    document = json.loads(RESULTS.read_text())
    rotate = document["rotate_user"]
    card = f"{document['seal_open_card_4k_per_second']:,} per second"
    transcript = f"{document['seal_open_transcript_16k_per_second']:,} per second"
    rotation = f"{rotate['values']:,} values of {rotate['value_bytes']:,} B, embedded server"
    took = f"{rotate['seconds']:.1f} s, {rotate['rows_per_second']:,.0f} rows/s"
    return f"""\
Run of {document["when"]} (`python -m benchmarks.bench_vault`, results in
`benchmarks/results/vault.json`):

| what | result |
| --- | --- |
| seal + open a 4 KB decision card (AES-256-GCM, binding included), one process | {card} |
| seal + open a 16 KB transcript | {transcript} |
| `keys rotate USER`: {rotation} | {took} |

The cipher costs microseconds per value; a sealed write costs one more primary-key read (the
user's active key, `FOR SHARE`) in the same transaction. Rotation reads each key version once per
batch and updates a batch in one pipelined `executemany`. The comparison of a decision stored
encrypted and in plaintext is the previous section."""

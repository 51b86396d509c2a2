"""The vault: the primitive's throughput, and `keys rotate USER` in rows per second.

    python -m benchmarks.bench_vault            # what `make bench` runs
    python -m benchmarks.bench_vault --quick    # fewer values, for a smoke test

- seal + open of a 4 KB decision card and a 16 KB transcript with AES-256-GCM (the binding's
  associated data included), per second, in this process;
- `keys rotate USER` over one user's values in a table of their own (``bench_vault_values``,
  user tenancy like every user table), batch size 500: the rows per second the command reports.

On the embedded server in the benchmarks' data folder, database ``agentkeep_bench_vault``.
Writes benchmarks/results/vault.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import time
import uuid
from pathlib import Path

import asyncpg
import platformdirs

from agentkeep.database.urls import asyncpg_dsn
from agentkeep.encrypted import ENCRYPTED_COLUMNS
from agentkeep.keep import Keep
from agentkeep.principal import Principal
from agentkeep.settings import load_settings
from agentkeep.users.models import NewUser
from agentkeep.vault import cipher
from agentkeep.vault.fields import EncryptedColumn, EncryptedColumns
from agentkeep.vault.service import VaultService

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "agentkeep_bench_vault"
TABLE = "bench_vault_values"
MAKE_TABLE = f"""
DROP TABLE IF EXISTS {TABLE};
CREATE TABLE {TABLE} (user_id uuid NOT NULL, id uuid NOT NULL, secret bytea, PRIMARY KEY (user_id, id));
ALTER TABLE {TABLE} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {TABLE} FORCE ROW LEVEL SECURITY;
CREATE POLICY {TABLE}_tenant ON {TABLE}
    USING (user_id = NULLIF(current_setting('agentkeep.user_id', true), '')::uuid)
    WITH CHECK (user_id = NULLIF(current_setting('agentkeep.user_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON {TABLE} TO agentkeep_app;
"""


def say(text: str) -> None:
    print(text, flush=True)


def data_dir() -> Path:
    """The benchmarks' embedded server (benchmarks/bench_messages.py uses the same folder)."""
    configured = os.environ.get("AGENTKEEP_BENCH_DATA_DIR")
    if configured:
        return Path(configured)
    return Path(platformdirs.user_cache_dir("agentkeep", appauthor=False)) / "bench"


def primitive(size: int, rounds: int) -> float:
    """Seal + open pairs per second for a value of ``size`` bytes."""
    key = os.urandom(32)
    value = os.urandom(size)
    binding = cipher.Binding(uuid.uuid4(), "decisions", "decision_ciphertext", str(uuid.uuid4()), 1)
    started = time.perf_counter()
    for _ in range(rounds):
        assert cipher.unseal(key, cipher.seal(key, value, binding), binding) == value
    return rounds / (time.perf_counter() - started)


async def rotation(keep: Keep, values: int, size: int) -> dict[str, float]:
    owner = await asyncpg.connect(asyncpg_dsn(keep.database.urls.owner))
    try:
        await owner.execute(MAKE_TABLE)
    finally:
        await owner.close()
    user = await keep.users.create(NewUser(email=f"bench-{uuid.uuid4().hex[:8]}@example.com"))
    payload = os.urandom(size)
    async with keep.database.transaction(Principal.service(user.user_id)) as tx:
        key = await keep.keyring.current(tx.driver, user.user_id)
        rows = []
        for _ in range(values):
            row_id = uuid.uuid4()
            rows.append((user.user_id, row_id, key.seal(TABLE, "secret", str(row_id), payload)))
        # COPY is refused under row-level security: one multi-row insert per 1,000.
        for start in range(0, len(rows), 1000):
            chunk = rows[start : start + 1000]
            await tx.driver.execute(
                f"INSERT INTO {TABLE} (user_id, id, secret)"
                " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bytea[])",
                [row[0] for row in chunk],
                [row[1] for row in chunk],
                [row[2] for row in chunk],
            )
    vault = VaultService(
        keep.database,
        keep.keyring,
        EncryptedColumns.gather(ENCRYPTED_COLUMNS, (EncryptedColumn(TABLE, "secret"),)),
    )
    report = await vault.rotate_user(user.user_id, batch_size=500)
    assert report.finished
    assert report.rows == values
    return {
        "values": values,
        "value_bytes": size,
        "seconds": report.seconds,
        "rows_per_second": report.rows_per_second,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds, values = (500, 2_000) if args.quick else (5_000, 20_000)
    results: dict[str, object] = {"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    for name, size in (("card_4k", 4096), ("transcript_16k", 16384)):
        results[f"seal_open_{name}_per_second"] = round(primitive(size, rounds))
        say(f"seal + open {name}: {results[f'seal_open_{name}_per_second']} per second")
    settings = load_settings(database_url=None, data_dir=data_dir(), database_name=DATABASE)
    say(f"embedded PostgreSQL in {settings.data_dir}, database {DATABASE}")
    keep = await Keep.connect(settings, migrate=True)
    try:
        rotated = await rotation(keep, values, 1024)
    finally:
        await keep.close()
    results["rotate_user"] = rotated
    say(
        f"keys rotate: {rotated['values']} values of {rotated['value_bytes']} B "
        f"in {rotated['seconds']:.2f} s, {rotated['rows_per_second']:.0f} rows/s"
    )
    out = ROOT / "benchmarks" / "results" / "vault.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    say(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())

"""`keys rotate USER`: a new data key, every registered value re-encrypted in batches, resumable
after a crash (docs/vault.md). Uses a table of its own with many values per user."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from agentkeep.database.roles import APP_ROLE
from agentkeep.database.urls import DatabaseUrls
from agentkeep.encrypted import ENCRYPTED_COLUMNS
from agentkeep.keep import Keep
from agentkeep.principal import Principal
from agentkeep.vault.fields import EncryptedColumn, EncryptedColumns
from agentkeep.vault.service import VaultService
from audit_support import ON_CITUS

TABLE = "vault_rotation_rows"
COLUMN = EncryptedColumn(TABLE, "secret")
ROWS = 300

MAKE_TABLE = f"""
CREATE TABLE {TABLE} (user_id uuid NOT NULL, id uuid NOT NULL, secret bytea, PRIMARY KEY (user_id, id));
GRANT SELECT, INSERT, UPDATE, DELETE ON {TABLE} TO {APP_ROLE};
"""
SECURE_TABLE = f"""
ALTER TABLE {TABLE} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {TABLE} FORCE ROW LEVEL SECURITY;
CREATE POLICY {TABLE}_tenant ON {TABLE}
    USING (user_id = NULLIF(current_setting('agentkeep.user_id', true), '')::uuid)
    WITH CHECK (user_id = NULLIF(current_setting('agentkeep.user_id', true), '')::uuid);
"""


@pytest.fixture(scope="module")
async def rows_table(urls: DatabaseUrls, keep: Keep) -> AsyncIterator[str]:
    """A user table holding one encrypted column, made for these tests and dropped after."""
    conn = await asyncpg.connect(urls.owner.render_as_string(hide_password=False).replace("+asyncpg", ""))
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        for statement in MAKE_TABLE.split(";\n"):  # one by one: Citus forwards each to the workers
            if statement.strip():
                await conn.execute(statement)
        if ON_CITUS:
            await conn.execute(
                f"SELECT create_distributed_table('{TABLE}', 'user_id', colocate_with => 'users')"
            )
        for statement in SECURE_TABLE.split(";\n"):
            if statement.strip():
                await conn.execute(statement)
        yield TABLE
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        await conn.close()


@pytest.fixture
def vault(keep: Keep, rows_table: str) -> VaultService:
    return VaultService(keep.database, keep.keyring, EncryptedColumns.gather(ENCRYPTED_COLUMNS, (COLUMN,)))


async def seeded_user(
    keep: Keep, make_user: Any, rows: int = ROWS
) -> tuple[uuid.UUID, dict[uuid.UUID, bytes]]:
    """A user with ``rows`` values sealed under their key version 1, and a provider key."""
    user = await make_user()
    plaintexts = {uuid.uuid4(): f"value {n} of {user.user_id}".encode() for n in range(rows)}
    async with keep.database.transaction(Principal.service(user.user_id)) as tx:
        key = await keep.keyring.current(tx.driver, user.user_id)
        await tx.driver.executemany(
            f"INSERT INTO {TABLE} (user_id, id, secret) VALUES ($1, $2, $3)",
            [
                (user.user_id, row_id, key.seal(TABLE, "secret", str(row_id), text))
                for row_id, text in plaintexts.items()
            ],
        )
        await tx.driver.execute(
            f"INSERT INTO {TABLE} (user_id, id, secret) VALUES ($1, $2, NULL)", user.user_id, uuid.uuid4()
        )
    await keep.provider_keys.set(user.user_id, "openai", "sk-rotate-0123456789")
    return user.user_id, plaintexts


async def key_states(keep: Keep, user_id: uuid.UUID) -> dict[int, str]:
    async with keep.database.transaction(Principal.service(user_id)) as tx:
        rows = await tx.driver.fetch("SELECT version, state FROM vault_keys WHERE user_id = $1", user_id)
    return {row["version"]: row["state"] for row in rows}


async def versions_in_use(keep: Keep, user_id: uuid.UUID) -> dict[int, int]:
    async with keep.database.transaction(Principal.service(user_id)) as tx:
        rows = await tx.driver.fetch(
            f"SELECT get_byte(secret, 4) AS v, count(*) AS n FROM {TABLE}"
            " WHERE user_id = $1 AND secret IS NOT NULL GROUP BY 1"
            " UNION ALL SELECT get_byte(encrypted_key, 4), count(*) FROM provider_api_keys"
            " WHERE user_id = $1 GROUP BY 1",
            user_id,
        )
    found: dict[int, int] = {}
    for row in rows:
        found[row["v"]] = found.get(row["v"], 0) + row["n"]
    return found


async def all_open(keep: Keep, user_id: uuid.UUID, plaintexts: dict[uuid.UUID, bytes]) -> None:
    async with keep.database.transaction(Principal.service(user_id)) as tx:
        rows = await tx.driver.fetch(
            f"SELECT id, secret FROM {TABLE} WHERE user_id = $1 AND secret IS NOT NULL", user_id
        )
        opened = {
            row["id"]: await keep.keyring.unseal(
                tx.driver, user_id, TABLE, "secret", str(row["id"]), row["secret"]
            )
            for row in rows
        }
    assert opened == plaintexts
    assert (await keep.provider_keys.reveal(user_id, "openai")).get_secret_value() == "sk-rotate-0123456789"


async def test_rotate_re_encrypts_every_value_under_the_new_key(
    keep: Keep, vault: VaultService, make_user: Any
) -> None:
    user_id, plaintexts = await seeded_user(keep, make_user)
    assert await vault.pending_rows(user_id) == ROWS + 1
    seen: list[int] = []
    report = await vault.rotate_user(user_id, batch_size=64, progress=seen.append)
    assert (report.old_versions, report.new_version, report.rows) == ((1,), 2, ROWS + 1)
    assert report.finished and not report.resumed and report.rows_per_second > 0
    assert sum(seen) == ROWS + 1 and max(seen) == 64
    assert await key_states(keep, user_id) == {1: "retired", 2: "active"}
    assert await versions_in_use(keep, user_id) == {2: ROWS + 1}
    await all_open(keep, user_id, plaintexts)


async def test_a_rotation_stopped_midway_is_finished_by_running_it_again(
    keep: Keep, vault: VaultService, make_user: Any
) -> None:
    user_id, plaintexts = await seeded_user(keep, make_user)
    # Batches: the provider key (one row), then 50 of this table's values, then 50 more.
    stopped = await vault.rotate_user(user_id, batch_size=50, stop_after_batches=3)
    assert (stopped.rows, stopped.finished) == (101, False)
    assert await key_states(keep, user_id) == {1: "rotating", 2: "active"}
    assert await versions_in_use(keep, user_id) == {1: ROWS + 1 - 101, 2: 101}
    await all_open(keep, user_id, plaintexts)  # both versions open meanwhile
    resumed = await vault.rotate_user(user_id, batch_size=50)
    assert (resumed.resumed, resumed.finished, resumed.rows, resumed.new_version) == (
        True,
        True,
        ROWS + 1 - 101,
        2,
    )
    assert await key_states(keep, user_id) == {1: "retired", 2: "active"}
    assert await versions_in_use(keep, user_id) == {2: ROWS + 1}
    await all_open(keep, user_id, plaintexts)


async def test_a_rotation_that_crashes_in_a_batch_loses_nothing(
    keep: Keep, vault: VaultService, make_user: Any
) -> None:
    user_id, plaintexts = await seeded_user(keep, make_user)
    done: list[int] = []

    def crash_after_two(rows: int) -> None:
        done.append(rows)
        if len(done) == 2:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        await vault.rotate_user(user_id, batch_size=40, progress=crash_after_two)
    # Committed: the provider key's batch and the first 40 values (the crash came after them).
    assert await versions_in_use(keep, user_id) == {1: ROWS + 1 - 41, 2: 41}
    report = await vault.rotate_user(user_id, batch_size=40)
    assert report.finished and report.resumed
    assert await versions_in_use(keep, user_id) == {2: ROWS + 1}
    await all_open(keep, user_id, plaintexts)


KILLED_ROTATION = textwrap.dedent(
    """
    import asyncio, sys, time
    from sqlalchemy.engine import make_url
    from agentkeep.database.engine import Database
    from agentkeep.database.urls import DatabaseUrls
    from agentkeep.encrypted import ENCRYPTED_COLUMNS
    from agentkeep.schema import SCHEMA
    from agentkeep.settings import load_settings
    from agentkeep.keep import master_key_provider
    from agentkeep.vault.fields import EncryptedColumn, EncryptedColumns
    from agentkeep.vault.keyring import Keyring
    from agentkeep.vault.service import VaultService
    import uuid

    async def main():
        owner, app, user = sys.argv[1], sys.argv[2], uuid.UUID(sys.argv[3])
        database = Database.from_urls(DatabaseUrls(owner=make_url(owner), app=make_url(app)), schema=SCHEMA)
        extra = (EncryptedColumn("vault_rotation_rows", "secret"),)
        columns = EncryptedColumns.gather(ENCRYPTED_COLUMNS, extra)
        vault = VaultService(database, Keyring(database, master_key_provider(load_settings())), columns)

        def progress(rows):
            print("batch", rows, flush=True)
            time.sleep(0.05)  # slow enough to be killed in the middle

        await vault.rotate_user(user, batch_size=5, progress=progress)
        print("finished", flush=True)

    asyncio.run(main())
    """
)


async def test_a_rotation_killed_midway_is_resumed(
    keep: Keep, vault: VaultService, make_user: Any, urls: DatabaseUrls
) -> None:
    user_id, plaintexts = await seeded_user(keep, make_user)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        KILLED_ROTATION,
        urls.owner.render_as_string(hide_password=False),
        urls.app.render_as_string(hide_password=False),
        str(user_id),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=os.environ.copy(),
    )
    assert process.stdout is not None
    batches = 0
    while batches < 4:
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=60)).decode()
        assert line.startswith("batch"), line or (await process.stderr.read()).decode()  # type: ignore[union-attr]
        batches += 1
    process.send_signal(signal.SIGKILL)
    await asyncio.wait_for(process.wait(), timeout=30)
    assert process.returncode == -signal.SIGKILL
    in_use = await versions_in_use(keep, user_id)
    assert set(in_use) == {1, 2} and in_use[2] >= 1 + 5 * 3  # killed midway, its batches committed
    assert await key_states(keep, user_id) == {1: "rotating", 2: "active"}
    report = await vault.rotate_user(user_id, batch_size=64)
    assert report.resumed and report.finished and report.rows == in_use[1]
    assert await versions_in_use(keep, user_id) == {2: ROWS + 1}
    assert await key_states(keep, user_id) == {1: "retired", 2: "active"}
    await all_open(keep, user_id, plaintexts)


async def test_values_sealed_during_a_rotation_use_the_new_key(
    keep: Keep, vault: VaultService, make_user: Any
) -> None:
    user_id, _ = await seeded_user(keep, make_user, rows=10)
    await vault.rotate_user(user_id, batch_size=5, stop_after_batches=1)
    await keep.provider_keys.set(user_id, "anthropic", "sk-during-rotation-1")
    assert await versions_in_use(keep, user_id) == {1: 10, 2: 2}  # openai re-encrypted, anthropic new
    await vault.rotate_user(user_id)
    assert set(await versions_in_use(keep, user_id)) == {2}


async def test_a_user_without_a_key_has_nothing_to_rotate(vault: VaultService, make_user: Any) -> None:
    user = await make_user()
    report = await vault.rotate_user(user.user_id)
    assert (report.new_version, report.rows, report.finished) == (None, 0, True)

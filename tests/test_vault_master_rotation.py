"""`keys rotate-master`: every data key re-wrapped under the new master key, no encrypted row
touched, every row still opens; the old master key is refused afterwards (docs/vault.md).
On a database of its own: the run's shared database keeps the run's master key."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from agentkeep.database import migrate
from agentkeep.database.engine import Database
from agentkeep.keep import Keep
from agentkeep.principal import Principal
from agentkeep.profiles.loader import load_profile
from agentkeep.profiles.service import ProfileService
from agentkeep.schema import SCHEMA
from agentkeep.settings import load_settings
from agentkeep.users.models import NewUser
from agentkeep.vault.keyring import Keyring
from agentkeep.vault.master import LocalMasterKey, MasterKeyError

OLD, NEW = os.urandom(32), os.urandom(32)


@pytest.fixture
async def own_keep(database_factory: Any) -> AsyncIterator[Keep]:
    async with database_factory("agentkeep_scratch_rotate_master") as scratch_urls:
        database = Database.from_urls(scratch_urls, schema=SCHEMA)
        try:
            await migrate.upgrade(database)
            await ProfileService(database).apply(load_profile("default"))
            keep = Keep(database, load_settings(), master_key=LocalMasterKey.from_key(OLD))
            await keep.keyring.open()
            yield keep
        finally:
            await database.close()


async def _snapshot(keep: Keep) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """(vault_keys rows, provider_api_keys rows) of every user, read as the operator."""
    async with keep.database.owner_transaction() as conn:
        await conn.execute(sa.text("SET LOCAL agentkeep.principal = 'operator'"))
        keys = {
            (row["user_id"], row["version"]): dict(row)
            for row in (await conn.execute(sa.text("SELECT * FROM vault_keys"))).mappings()
        }
        values = {
            (row["user_id"], row["provider"]): dict(row)
            for row in (await conn.execute(sa.text("SELECT * FROM provider_api_keys"))).mappings()
        }
    return keys, values


async def test_rotate_master_rewraps_only_the_keys_and_everything_still_opens(own_keep: Keep) -> None:
    keep = own_keep
    users = [
        await keep.users.create(NewUser(email=f"m-{uuid.uuid4().hex[:8]}@example.com")) for _ in range(3)
    ]
    sensitive = {}
    for number, user in enumerate(users):
        await keep.provider_keys.set(user.user_id, "openai", f"sk-master-{number}-abcdefgh")
        sensitive[user.user_id] = await keep.vault.encrypt_sensitive(
            user.user_id, f"secret {number}", table="notes", column="body", row_id="1"
        )
    # One user's key rotated first: two versions to re-wrap for them.
    await keep.vault.rotate_user(users[0].user_id)
    keys_before, values_before = await _snapshot(keep)
    assert len(keys_before) == 4

    report = await keep.vault.rotate_master(LocalMasterKey.from_key(NEW))
    assert (report.old_version, report.new_version, report.keys) == (1, 2, 4)

    keys_after, values_after = await _snapshot(keep)
    assert values_after == values_before  # no encrypted row touched
    assert keys_after.keys() == keys_before.keys()
    for place, before in keys_before.items():
        after = keys_after[place]
        assert after["wrapped_key"] != before["wrapped_key"]
        assert after["master_version"] == 2 and before["master_version"] == 1
        unchanged = {
            k: v for k, v in after.items() if k not in ("wrapped_key", "master_version", "updated_at")
        }
        assert unchanged == {
            k: v for k, v in before.items() if k not in ("wrapped_key", "master_version", "updated_at")
        }

    # This Keep and a fresh process with the new key open everything.
    fresh = Keep(keep.database, keep.settings, master_key=LocalMasterKey.from_key(NEW))
    for number, user in enumerate(users):
        for opener in (keep, fresh):
            revealed = await opener.provider_keys.reveal(user.user_id, "openai")
            assert revealed.get_secret_value() == f"sk-master-{number}-abcdefgh"
            text = await opener.vault.decrypt_sensitive(
                user.user_id, sensitive[user.user_id], table="notes", column="body", row_id="1"
            )
            assert text == f"secret {number}"

    # The old master key is refused at start, with one line.
    with pytest.raises(MasterKeyError, match=r"is not the vault's master key \(master version 2"):
        await Keyring(keep.database, LocalMasterKey.from_key(OLD)).open()
    async with keep.database.owner_transaction() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        states = {
            r["version"]: r["state"]
            for r in await driver.fetch("SELECT version, state FROM vault_master_keys")
        }
    assert states == {1: "retired", 2: "active"}


async def test_a_process_still_on_the_old_master_makes_no_new_keys(own_keep: Keep) -> None:
    keep = own_keep
    stale = Keep(keep.database, keep.settings, master_key=LocalMasterKey.from_key(OLD))
    await stale.keyring.open()
    await keep.vault.rotate_master(LocalMasterKey.from_key(NEW))
    user = await keep.users.create(NewUser(email=f"s-{uuid.uuid4().hex[:8]}@example.com"))
    with pytest.raises(MasterKeyError, match="restart it with the new key"):
        await stale.provider_keys.set(user.user_id, "openai", "sk-stale-process-1")
    async with keep.database.transaction(Principal.service(user.user_id)) as tx:
        assert (
            await tx.driver.fetchval("SELECT count(*) FROM vault_keys WHERE user_id = $1", user.user_id) == 0
        )

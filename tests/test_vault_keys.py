"""Data keys (vault_keys) and the master key check (docs/vault.md), on the real database."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

from agentkeep.database.engine import Database
from agentkeep.keep import Keep
from agentkeep.principal import Principal
from agentkeep.vault import cipher
from agentkeep.vault.keyring import KeyDestroyed, KeyNotFound, Keyring, wrap_context
from agentkeep.vault.master import LocalMasterKey, MasterKeyError, MasterKeyMismatch

CARD = b'{"ticker": "NVDA", "decision": "buy", "note": "canary-card-7f3a"}'


async def seal_for(keep: Keep, user_id: uuid.UUID, row_id: str, plaintext: bytes = CARD) -> bytes:
    async with keep.database.transaction(Principal.service(user_id)) as tx:
        return await keep.keyring.seal(
            tx.driver, user_id, "decisions", "decision_ciphertext", row_id, plaintext
        )


async def unseal_for(
    keyring: Keyring, database: Database, user_id: uuid.UUID, row_id: str, envelope: bytes
) -> bytes:
    async with database.transaction(Principal.service(user_id)) as tx:
        return await keyring.unseal(tx.driver, user_id, "decisions", "decision_ciphertext", row_id, envelope)


async def test_first_use_makes_version_1_and_keeps_it(keep: Keep, make_user: Any, owner: Any) -> None:
    user = await make_user()
    async with keep.database.transaction(Principal.service(user.user_id)) as tx:
        first = await keep.keyring.current(tx.driver, user.user_id)
        again = await keep.keyring.current(tx.driver, user.user_id)
    assert (first.version, again.version) == (1, 1) and first.key == again.key and len(first.key) == 32
    assert first.key.hex() not in repr(first) and first.key.hex() not in repr(keep.keyring)
    async with owner.transaction():
        await owner.execute("SET LOCAL agentkeep.principal = 'operator'")
        row = await owner.fetchrow("SELECT * FROM vault_keys WHERE user_id = $1", user.user_id)
    assert row["state"] == "active" and row["master_key_id"] == "local"
    assert first.key not in row["wrapped_key"]  # stored only wrapped
    assert len(row["wrapped_key"]) == 12 + 32 + 16


async def test_round_trip_through_the_keyring(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    row_id = str(uuid.uuid4())
    envelope = await seal_for(keep, user.user_id, row_id)
    assert CARD not in envelope
    assert await unseal_for(keep.keyring, keep.database, user.user_id, row_id, envelope) == CARD


async def test_a_card_sealed_for_one_user_cannot_be_read_with_another_users_key(
    keep: Keep, make_user: Any
) -> None:
    """Seed 000's scenario: a decision card encrypted for one user cannot be read with another
    user's key, nor without the vault (the raw bytes hold no plaintext)."""
    alice, bob = await make_user(), await make_user()
    row_id = str(uuid.uuid4())
    envelope = await seal_for(keep, alice.user_id, row_id)
    await seal_for(keep, bob.user_id, row_id)  # bob has a key of the same version
    with pytest.raises(cipher.DecryptionError):
        await unseal_for(keep.keyring, keep.database, bob.user_id, row_id, envelope)
    async with keep.database.transaction(Principal.service(bob.user_id)) as tx:
        bobs = await keep.keyring.current(tx.driver, bob.user_id)
    with pytest.raises(cipher.DecryptionError):  # bob's key, even claiming alice's place
        bobs.unseal("decisions", "decision_ciphertext", row_id, envelope)
    assert b"canary-card" not in envelope


async def test_rows_of_vault_keys_are_the_acting_users_only(keep: Keep, make_user: Any, as_app: Any) -> None:
    alice, bob = await make_user(), await make_user()
    await seal_for(keep, alice.user_id, "r")
    async with as_app(Principal.service(bob.user_id)) as conn:
        assert await conn.fetchval("SELECT count(*) FROM vault_keys WHERE user_id = $1", alice.user_id) == 0
        assert (
            await conn.fetchval("SELECT count(*) FROM kai.vault_keys WHERE user_id = $1", alice.user_id) == 0
        )
    async with as_app(Principal.service(alice.user_id)) as conn:
        view = await conn.fetchrow("SELECT * FROM kai.vault_keys WHERE user_id = $1", alice.user_id)
    assert dict(view) | {"created_at": None, "updated_at": None} == {
        "user_id": alice.user_id,
        "key_version": 1,
        "algorithm": "aes-256-gcm",
        "state": "active",
        "created_at": None,
        "updated_at": None,
    }


async def test_unknown_versions_are_not_found(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    async with keep.database.transaction(Principal.service(user.user_id)) as tx:
        await keep.keyring.current(tx.driver, user.user_id)
        with pytest.raises(KeyNotFound):
            await keep.keyring.version(tx.driver, user.user_id, 7)


async def test_a_wrong_master_key_is_refused_before_any_data_key(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    row_id = str(uuid.uuid4())
    envelope = await seal_for(keep, user.user_id, row_id)
    wrong = Keyring(keep.database, LocalMasterKey.from_key(os.urandom(32), source="AGENTKEEP_MASTER_KEY"))
    with pytest.raises(MasterKeyError) as caught:
        await wrong.open()
    message = str(caught.value)
    assert "\n" not in message and message.startswith("AGENTKEEP_MASTER_KEY is not the vault's master key")
    with pytest.raises(MasterKeyError):  # and nothing is served through it
        await unseal_for(wrong, keep.database, user.user_id, row_id, envelope)


async def test_destroy_leaves_nothing_that_opens_a_copied_out_envelope(
    keep: Keep, make_user: Any, owner: Any
) -> None:
    user = await make_user()
    row_id = str(uuid.uuid4())
    envelope = await seal_for(keep, user.user_id, row_id)
    async with keep.database.transaction(Principal.service(user.user_id)) as tx:
        assert await keep.keyring.destroy(tx.driver, user.user_id) == 1
    with pytest.raises(KeyDestroyed):
        await unseal_for(keep.keyring, keep.database, user.user_id, row_id, envelope)
    # A fresh process (no cache) cannot either.
    fresh = Keyring(keep.database, keep.keyring.provider)
    with pytest.raises(KeyDestroyed):
        await unseal_for(fresh, keep.database, user.user_id, row_id, envelope)
    # The audit trail still holds the wrapped key (wrapped) until the user's entries are redacted,
    # which erasure does right after destroying the keys.
    held_before = await _wrapped_keys_held(owner, user.user_id)
    assert len(held_before) == 1  # the INSERT's new_values (the destroy's UPDATE moved it to old_values)
    await keep.audit.redact(user.user_id)
    candidates = await _wrapped_keys_held(owner, user.user_id)
    assert candidates == []
    # Whatever was left, nothing unwraps into a key that opens the envelope.
    for wrapped in candidates:  # pragma: no cover - kept for when the list is not empty
        with pytest.raises(MasterKeyMismatch):
            await keep.keyring.provider.unwrap(wrapped, wrap_context(user.user_id, 1, 1))


async def _wrapped_keys_held(owner: Any, user_id: uuid.UUID) -> list[bytes]:
    """Every distinct wrapped key of the user in vault_keys and in the audit trail."""
    async with owner.transaction():
        await owner.execute("SET LOCAL agentkeep.principal = 'operator'")
        held = await owner.fetch(
            "SELECT wrapped_key FROM vault_keys WHERE user_id = $1"
            " UNION SELECT decode(substr(v ->> 'wrapped_key', 3), 'hex') FROM audit_log,"
            " LATERAL (VALUES (old_values), (new_values)) AS e(v)"
            " WHERE table_name = 'vault_keys' AND user_id = $1 AND v ->> 'wrapped_key' IS NOT NULL",
            user_id,
        )
    return [bytes(row[0]) for row in held if row[0] is not None]


async def test_a_new_key_after_destroy_takes_the_next_version(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    await seal_for(keep, user.user_id, "r")
    async with keep.database.transaction(Principal.service(user.user_id)) as tx:
        await keep.keyring.destroy(tx.driver, user.user_id)
        again = await keep.keyring.current(tx.driver, user.user_id)
    assert again.version == 2


async def test_encrypt_sensitive_is_bound_to_its_user_and_place(keep: Keep, make_user: Any) -> None:
    """Seed 001's encrypt_sensitive/decrypt_sensitive, served by the vault in the application."""
    alice, bob = await make_user(), await make_user()
    place = {"table": "notes", "column": "body", "row_id": "42"}
    sealed = await keep.vault.encrypt_sensitive(alice.user_id, "diagnosis: canary-sensitive", **place)
    assert b"canary-sensitive" not in sealed
    assert await keep.vault.decrypt_sensitive(alice.user_id, sealed, **place) == "diagnosis: canary-sensitive"
    with pytest.raises(cipher.DecryptionError) as caught:
        await keep.vault.decrypt_sensitive(alice.user_id, sealed, **(place | {"row_id": "43"}))
    assert "canary" not in str(caught.value)
    with pytest.raises((cipher.DecryptionError, KeyNotFound)):
        await keep.vault.decrypt_sensitive(bob.user_id, sealed, **place)

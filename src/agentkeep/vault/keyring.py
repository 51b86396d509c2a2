"""A user's data keys (table ``vault_keys``), unwrapped with the master key when first used.

Unwrapped keys are kept in this process's memory only, keyed by the wrapped bytes they came
from (a key re-wrapped or destroyed elsewhere is never served from the cache): never written,
never logged; reprs hide them. Every call still reads the key's row, so a key destroyed by
another process is refused here at once.

Helpers take the asyncpg connection of the caller's transaction (``tx.driver``): the caller's
service owns the transaction, and its principal is the user the keys belong to.
"""

from __future__ import annotations

import asyncio
import struct
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from agentkeep.database.engine import Database
from agentkeep.errors import AgentkeepError, NotFound
from agentkeep.vault import cipher
from agentkeep.vault.master import MasterKeyError, MasterKeyMismatch, MasterKeyProvider, new_key
from agentkeep.vault.tables import vault_master_keys

# A known value the master key wraps: opening it at start proves the key is the vault's one.
CHECK_VALUE = b"agentkeep.vault: master key check"


def check_context(master_version: int) -> bytes:
    return b"agentkeep.vault.master-check.v1" + struct.pack(">I", master_version)


def wrap_context(user_id: uuid.UUID, version: int, master_version: int) -> bytes:
    """What a wrapped data key is bound to: its user, its version, the master version."""
    return b"agentkeep.vault.data-key.v1" + user_id.bytes + struct.pack(">II", version, master_version)


class KeyNotFound(NotFound):
    title = "Vault key not found"


class KeyDestroyed(AgentkeepError):
    """The user's key was destroyed (erasure): what it sealed can never be opened again."""

    status_code = 410
    title = "Vault key destroyed"


@dataclass(frozen=True)
class DataKey:
    user_id: uuid.UUID
    version: int
    key: bytes = field(repr=False)

    def binding(self, table: str, column: str, row_id: str) -> cipher.Binding:
        return cipher.Binding(self.user_id, table, column, row_id, self.version)

    def seal(self, table: str, column: str, row_id: str, plaintext: bytes) -> bytes:
        """An envelope (bytea) of ``plaintext`` for that place, under this key."""
        return cipher.seal(self.key, plaintext, self.binding(table, column, row_id)).to_envelope()

    def unseal(self, table: str, column: str, row_id: str, envelope: bytes) -> bytes:
        return cipher.unseal(
            self.key, cipher.Sealed.from_envelope(envelope), self.binding(table, column, row_id)
        )


@dataclass(frozen=True)
class MasterState:
    version: int
    key_id: str


_ACTIVE_KEY = (
    "SELECT version, wrapped_key, master_version FROM vault_keys"
    " WHERE user_id = $1 AND state = 'active' FOR SHARE"
)
_KEY = (
    "SELECT version, wrapped_key, master_version, state FROM vault_keys WHERE user_id = $1 AND version = $2"
)
_NEXT_VERSION = "SELECT coalesce(max(version), 0) + 1 FROM vault_keys WHERE user_id = $1"
_MASTER_STATE = "SELECT state FROM vault_master_keys WHERE version = $1"
_INSERT_KEY = (
    "INSERT INTO vault_keys (user_id, version, wrapped_key, master_key_id, master_version, state)"
    " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING version"
)
_DESTROY = (
    "UPDATE vault_keys SET wrapped_key = NULL, state = 'destroyed'"
    " WHERE user_id = $1 AND state <> 'destroyed' RETURNING version"
)


class Keyring:
    """One per Keep: the master key provider, and the data keys it has unwrapped."""

    def __init__(self, database: Database, provider: MasterKeyProvider) -> None:
        self._database = database
        self.provider = provider
        self._master: MasterState | None = None
        self._lock = asyncio.Lock()
        self._cache: dict[tuple[uuid.UUID, int, bytes], bytes] = {}

    def __repr__(self) -> str:
        return f"Keyring(provider={self.provider!r}, master={self._master!r}, cached={len(self._cache)})"

    # --- the master key ------------------------------------------------------------------------

    async def open(self) -> MasterState:
        """Check the master key against the vault (registering it on the vault's first use).

        A wrong or missing key is a :class:`MasterKeyError` here, before any data key is used.
        """
        if self._master is not None:
            return self._master
        async with self._lock:
            if self._master is None:
                self._master = await self._open()
            return self._master

    async def _open(self) -> MasterState:
        row = await self._active_master()
        if row is None:
            await self.provider.open(first_use=True)
            check = await self.provider.wrap(CHECK_VALUE, check_context(1))
            async with self._database.owner_transaction() as conn:
                insert = (
                    pg_insert(vault_master_keys)
                    .values(version=1, key_id=self.provider.key_id, check_value=check, state="active")
                    .on_conflict_do_nothing()
                )
                await conn.execute(insert)
            row = await self._active_master()
            assert row is not None
        else:
            await self.provider.open(first_use=False)
        version, key_id, check_value = row
        try:
            opened = await self.provider.unwrap(check_value, check_context(version))
        except MasterKeyMismatch:
            opened = None
        if opened != CHECK_VALUE:
            raise MasterKeyError(
                f"{self.provider.source} is not the vault's master key (master version {version}, "
                f"key id {key_id}): start with the key the vault was set up with (docs/vault.md)"
            )
        return MasterState(version=version, key_id=key_id)

    async def _active_master(self) -> tuple[int, str, bytes] | None:
        async with self._database.owner_transaction() as conn:
            statement = sa.select(
                vault_master_keys.c.version, vault_master_keys.c.key_id, vault_master_keys.c.check_value
            ).where(vault_master_keys.c.state == "active")
            row = (await conn.execute(statement)).first()
        return None if row is None else (row[0], row[1], bytes(row[2]))

    def forget(self) -> None:
        """Drop the master state and every unwrapped key (after the master key changed)."""
        self._master = None
        self._cache.clear()

    # --- data keys -----------------------------------------------------------------------------

    async def current(self, conn: asyncpg.Connection[Any], user_id: uuid.UUID) -> DataKey:
        """The user's active key (made, as version 1 or next, on first use). Locks its row
        FOR SHARE, so `keys rotate` waits for this transaction before switching keys."""
        master = await self.open()
        row = await conn.fetchrow(_ACTIVE_KEY, user_id)
        if row is None:
            created = await self._create(conn, user_id, master)
            if created is not None:
                return created
            row = await conn.fetchrow(_ACTIVE_KEY, user_id)  # made meanwhile by another transaction
            if row is None:
                raise KeyNotFound("the user has no active vault key")
        return await self._unwrapped(user_id, row["version"], row["wrapped_key"], row["master_version"])

    async def version(self, conn: asyncpg.Connection[Any], user_id: uuid.UUID, version: int) -> DataKey:
        """The key of that version, if it still exists (KeyNotFound / KeyDestroyed)."""
        await self.open()
        row = await conn.fetchrow(_KEY, user_id, version)
        if row is None:
            raise KeyNotFound(f"no vault key version {version} for this user")
        if row["state"] == "destroyed":
            raise KeyDestroyed(f"vault key version {version} of this user was destroyed")
        return await self._unwrapped(user_id, version, row["wrapped_key"], row["master_version"])

    async def seal(
        self,
        conn: asyncpg.Connection[Any],
        user_id: uuid.UUID,
        table: str,
        column: str,
        row_id: str,
        plaintext: bytes,
    ) -> bytes:
        """Seal ``plaintext`` for that place under the user's active key: an envelope (bytea)."""
        return (await self.current(conn, user_id)).seal(table, column, row_id, plaintext)

    async def unseal(
        self,
        conn: asyncpg.Connection[Any],
        user_id: uuid.UUID,
        table: str,
        column: str,
        row_id: str,
        envelope: bytes,
    ) -> bytes:
        """Open an envelope read from that place (DecryptionError, KeyDestroyed, KeyNotFound)."""
        version = cipher.envelope_key_version(envelope)
        return (await self.version(conn, user_id, version)).unseal(table, column, row_id, envelope)

    async def destroy(self, conn: asyncpg.Connection[Any], user_id: uuid.UUID) -> int:
        """Crypto-shred: overwrite every wrapped key of the user (rows stay, state 'destroyed',
        so a version is never reused). Returns how many keys were destroyed. What those keys
        sealed can no longer be opened by anything agentkeep holds, once the audit entries of
        ``vault_keys`` (which hold the wrapped keys, wrapped) are redacted too: erasure does both."""
        rows = await conn.fetch(_DESTROY, user_id)
        for cached in [entry for entry in self._cache if entry[0] == user_id]:
            del self._cache[cached]
        return len(rows)

    async def _create(
        self, conn: asyncpg.Connection[Any], user_id: uuid.UUID, master: MasterState, *, state: str = "active"
    ) -> DataKey | None:
        """A new key version for the user, wrapped under the active master key; None if another
        transaction made the user's active key first."""
        if await conn.fetchval(_MASTER_STATE, master.version) != "active":
            self.forget()
            raise MasterKeyError(
                "the vault's master key was rotated since this process started: restart it with the new key"
            )
        version = await conn.fetchval(_NEXT_VERSION, user_id)
        key = new_key()
        wrapped = await self.provider.wrap(key, wrap_context(user_id, version, master.version))
        inserted = await conn.fetchval(
            _INSERT_KEY, user_id, version, wrapped, master.key_id, master.version, state
        )
        if inserted is None:
            return None
        self._cache[(user_id, version, wrapped)] = key
        return DataKey(user_id, version, key)

    async def new_version(self, conn: asyncpg.Connection[Any], user_id: uuid.UUID) -> DataKey:
        """Make the user's next key version active (the caller has moved the old one aside)."""
        created = await self._create(conn, user_id, await self.open())
        if created is None:
            raise KeyNotFound("another transaction made the user's active key meanwhile")
        return created

    async def _unwrapped(
        self, user_id: uuid.UUID, version: int, wrapped: bytes, master_version: int
    ) -> DataKey:
        wrapped = bytes(wrapped)
        cached = self._cache.get((user_id, version, wrapped))
        if cached is not None:
            return DataKey(user_id, version, cached)
        master = await self.open()
        if master_version != master.version:
            raise MasterKeyError(
                f"vault keys are wrapped under master version {master_version}, this process holds "
                f"version {master.version}: restart it with the current master key"
            )
        try:
            key = await self.provider.unwrap(wrapped, wrap_context(user_id, version, master_version))
        except MasterKeyMismatch:
            raise cipher.DecryptionError(
                f"vault key version {version} of this user does not open under the master key"
            ) from None
        self._cache[(user_id, version, wrapped)] = key
        return DataKey(user_id, version, key)

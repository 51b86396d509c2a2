"""The vault's operations: rotate a user's data key (re-encrypting their rows), rotate the
master key (re-wrapping every data key), and seed 001's encrypt_sensitive/decrypt_sensitive.

Each batch of a rotation is one transaction; the state lives in ``vault_keys`` (the old version
stays ``rotating`` until no registered row refers to it, then ``retired``), so a rotation killed
at any point is finished by running it again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from agentkeep.actors import Actor, acting_user, as_principal
from agentkeep.database.engine import Database
from agentkeep.errors import Conflict, InvalidInput
from agentkeep.principal import Principal
from agentkeep.vault import cipher
from agentkeep.vault import repository as rotation
from agentkeep.vault.fields import EncryptedColumn, EncryptedColumns
from agentkeep.vault.keyring import CHECK_VALUE, DataKey, Keyring, check_context, wrap_context
from agentkeep.vault.master import MasterKeyProvider
from agentkeep.vault.tables import vault_keys, vault_master_keys

Progress = Callable[[int], None]
ACT_AS_OPERATOR = "SET LOCAL agentkeep.principal = 'operator'"


@dataclass(frozen=True)
class RotationReport:
    user_id: uuid.UUID
    old_versions: tuple[int, ...]
    new_version: int | None
    rows: int
    seconds: float
    finished: bool
    resumed: bool

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class MasterRotationReport:
    old_version: int
    new_version: int
    keys: int
    seconds: float


class VaultService:
    def __init__(self, database: Database, keyring: Keyring, columns: EncryptedColumns) -> None:
        self._database = database
        self._keyring = keyring
        self.columns = columns

    # --- seed 001: encrypt_sensitive / decrypt_sensitive ---------------------------------------

    async def encrypt_sensitive(
        self, actor: Actor, data: str, *, table: str, column: str, row_id: str
    ) -> bytes:
        """001's ``encrypt_sensitive(data)``, in the application: an envelope of ``data`` under
        the acting user's data key, bound to where it will be stored (table, column, row)."""
        user_id = acting_user(actor)
        async with self._database.transaction(as_principal(actor)) as tx:
            return await self._keyring.seal(tx.driver, user_id, table, column, row_id, data.encode())

    async def decrypt_sensitive(
        self, actor: Actor, encrypted_data: bytes, *, table: str, column: str, row_id: str
    ) -> str:
        """001's ``decrypt_sensitive(encrypted_data)``: DecryptionError if the value was altered,
        moved, or sealed for another user."""
        user_id = acting_user(actor)
        async with self._database.transaction(as_principal(actor)) as tx:
            plaintext = await self._keyring.unseal(tx.driver, user_id, table, column, row_id, encrypted_data)
        return plaintext.decode()

    # --- a user's data key ---------------------------------------------------------------------

    async def pending_rows(self, user_id: uuid.UUID) -> int:
        """How many registered values a rotation of ``user_id`` has to re-encrypt (for progress)."""
        async with self._database.transaction(Principal.service(user_id)) as tx:
            versions = await rotation.key_versions(tx.conn, user_id, "rotating")
            versions = versions or await rotation.key_versions(tx.conn, user_id, "active")
            if not versions:
                return 0
            return sum([await rotation.count_under(tx.conn, c, user_id, versions) for c in self.columns])

    async def rotate_user(
        self,
        user_id: uuid.UUID,
        *,
        batch_size: int = 500,
        progress: Progress | None = None,
        stop_after_batches: int | None = None,
    ) -> RotationReport:
        """Give the user a new data key and re-encrypt every registered value under it, one
        transaction per batch. Resumes an unfinished rotation instead of starting another.
        ``stop_after_batches``: leave it unfinished after that many batches (tests, throttling)."""
        if not 1 <= batch_size <= 10_000:
            raise InvalidInput("batch size: 1 to 10000", field="batch_size")
        started = time.perf_counter()
        principal = Principal.service(user_id)
        async with self._database.transaction(principal) as tx:
            old = await rotation.key_versions(tx.conn, user_id, "rotating")
            resumed = bool(old)
            if not old:
                active = await rotation.lock_active(tx.conn, user_id)
                if active is None:  # no key yet: nothing is sealed, nothing to rotate
                    return RotationReport(user_id, (), None, 0, 0.0, True, False)
                old = [active]
                await rotation.set_state(tx.conn, user_id, old, "rotating")
                new = await self._keyring.new_version(tx.driver, user_id)
            else:
                new = await self._keyring.current(tx.driver, user_id)
        rows, batches = 0, 0
        for column in self.columns:
            after: tuple[Any, ...] | None = None
            while stop_after_batches is None or batches < stop_after_batches:
                async with self._database.transaction(principal) as tx:
                    done, after = await self._batch(
                        tx.conn, tx.driver, column, user_id, old, new, after, batch_size
                    )
                if not done:
                    break
                rows += done
                batches += 1
                if progress is not None:
                    progress(done)
        finished = await self._retire_if_done(user_id, old)
        return RotationReport(
            user_id, tuple(old), new.version, rows, time.perf_counter() - started, finished, resumed
        )

    async def _batch(
        self,
        conn: Any,
        driver: Any,
        column: EncryptedColumn,
        user_id: uuid.UUID,
        old: list[int],
        new: DataKey,
        after: tuple[Any, ...] | None,
        limit: int,
    ) -> tuple[int, tuple[Any, ...] | None]:
        found = await rotation.batch_under(conn, column, user_id, old, after, limit)
        if not found:
            return 0, after
        changes = []
        keys: dict[int, DataKey] = {}  # one key read per version per batch, not per row
        for row in found:
            envelope = bytes(row[column.column])
            row_id = column.row_id(row)
            version = cipher.envelope_key_version(envelope)
            if version not in keys:
                keys[version] = await self._keyring.version(driver, user_id, version)
            key = keys[version]
            plaintext = key.unseal(column.table, column.column, row_id, envelope)
            changes.append(
                {name: row[name] for name in column.row_key_columns}
                | {"old": envelope, "new": new.seal(column.table, column.column, row_id, plaintext)}
            )
        await rotation.replace_values(conn, column, user_id, changes)
        last = found[-1]
        return len(found), tuple(last[name] for name in column.row_key_columns)

    async def _retire_if_done(self, user_id: uuid.UUID, old: list[int]) -> bool:
        async with self._database.transaction(Principal.service(user_id)) as tx:
            left = sum([await rotation.count_under(tx.conn, c, user_id, old) for c in self.columns])
            if left:
                return False
            await rotation.set_state(tx.conn, user_id, old, "retired")
        return True

    # --- the master key ------------------------------------------------------------------------

    async def rotate_master(self, new_provider: MasterKeyProvider) -> MasterRotationReport:
        """Re-wrap every data key under ``new_provider`` in one transaction, as a new master
        version; encrypted rows are not touched. Afterwards this Keep uses the new key."""
        started = time.perf_counter()
        old = await self._keyring.open()
        old_provider = self._keyring.provider
        await new_provider.open(first_use=True)
        new_version = old.version + 1
        check = await new_provider.wrap(CHECK_VALUE, check_context(new_version))
        async with self._database.owner_transaction() as conn:
            await conn.execute(sa.text(ACT_AS_OPERATOR))
            locked = await conn.execute(
                sa.select(vault_master_keys.c.version)
                .where(vault_master_keys.c.state == "active")
                .with_for_update()
            )
            if locked.scalar_one_or_none() != old.version:
                raise Conflict("the master key was rotated meanwhile: restart with the current key")
            keys = await _rewrap(conn, old_provider, new_provider, old.version, new_version)
            await conn.execute(
                sa.update(vault_master_keys)
                .where(vault_master_keys.c.version == old.version)
                .values(state="retired")
            )
            await conn.execute(
                sa.insert(vault_master_keys).values(
                    version=new_version, key_id=new_provider.key_id, check_value=check, state="active"
                )
            )
        # A key made meanwhile by a process still holding the old master (its insert committed
        # after the select above) is re-wrapped now; such a process refuses new keys from here on.
        async with self._database.owner_transaction() as conn:
            await conn.execute(sa.text(ACT_AS_OPERATOR))
            keys += await _rewrap(conn, old_provider, new_provider, old.version, new_version)
        self._keyring.provider = new_provider
        self._keyring.forget()
        await self._keyring.open()
        return MasterRotationReport(old.version, new_version, keys, time.perf_counter() - started)


async def _rewrap(
    conn: Any, old: MasterKeyProvider, new: MasterKeyProvider, old_version: int, new_version: int
) -> int:
    rows = await conn.execute(
        sa.select(vault_keys.c.user_id, vault_keys.c.version, vault_keys.c.wrapped_key).where(
            vault_keys.c.master_version == old_version, vault_keys.c.wrapped_key.is_not(None)
        )
    )
    changes = []
    for user_id, version, wrapped in rows:
        key = await old.unwrap(bytes(wrapped), wrap_context(user_id, version, old_version))
        changes.append(
            {
                "b_user_id": user_id,
                "b_version": version,
                "b_old": bytes(wrapped),
                "b_new": await new.wrap(key, wrap_context(user_id, version, new_version)),
            }
        )
    if changes:
        await conn.execute(
            sa.update(vault_keys)
            .where(
                vault_keys.c.user_id == sa.bindparam("b_user_id"),
                vault_keys.c.version == sa.bindparam("b_version"),
                vault_keys.c.wrapped_key == sa.bindparam("b_old"),
            )
            .values(
                wrapped_key=sa.bindparam("b_new"),
                master_key_id=new.key_id,
                master_version=new_version,
            ),
            changes,
        )
    return len(changes)

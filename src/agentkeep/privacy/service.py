"""Data-subject rights: export everything held about a user, and erase it (docs/privacy.md).

Erasure, in this order, so that an interruption never leaves readable data behind a report of
success:

1. the user's data keys are destroyed, in a transaction of their own that commits first: from
   then on every ciphertext of the user, wherever a copy lies (a backup, an archive, a dump), is
   noise (crypto-shredding);
2. in one transaction: every row of the user is deleted (each deletion is audited like any
   other), the user's audit entries are redacted (the chains still verify, revision 0005), and
   the erasure is recorded in the operator chain with its counts and nothing personal.

Running it again after a failure finishes the work: each step does only what is left.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.audit import repository as audit_repository
from agentkeep.audit.actions import record_action
from agentkeep.database.engine import Database, principal_settings
from agentkeep.errors import AgentkeepError, NotFound
from agentkeep.principal import Principal
from agentkeep.privacy import export, holdings
from agentkeep.privacy.models import ErasureReport
from agentkeep.vault.fields import EncryptedColumns
from agentkeep.vault.keyring import Keyring

CHUNK = 64 * 1024
REPEATABLE_READ = sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
UNREDACTED_ENTRIES = sa.text(
    "SELECT count(*) FROM audit_log WHERE user_id = CAST(:user_id AS uuid) AND redacted_at IS NULL"
)


class ErasureIncomplete(AgentkeepError):
    status_code = 500
    title = "Erasure incomplete"


class PrivacyService:
    def __init__(self, database: Database, keyring: Keyring, encrypted_columns: EncryptedColumns) -> None:
        self._database = database
        self._keyring = keyring
        self._columns = encrypted_columns
        self._encrypted: dict[str, frozenset[str]] = {}
        for column in encrypted_columns:
            self._encrypted[column.table] = self._encrypted.get(column.table, frozenset()) | {column.column}

    async def export(
        self,
        user_id: uuid.UUID,
        *,
        on_total: Callable[[int], None] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> AsyncGenerator[str, None]:
        """The user's export document, piece by piece, read in one consistent snapshot; the
        export is recorded in the user's audit chain (what was exported, no content)."""
        async with self._database.transaction(Principal.service(user_id)) as tx:
            await tx.conn.execute(REPEATABLE_READ)
            counts = await holdings.count_rows(tx.conn, user_id)
            if not counts.get("users"):
                raise NotFound("user not found", field="user_id")
            entries = await export.count_audit_entries(tx.conn, user_id)
            if on_total is not None:
                on_total(sum(counts.values()) + entries)

            async def decrypt(table: str, column: str, row: sa.RowMapping, envelope: bytes) -> bytes:
                row_id = self._columns.find(table, column).row_id(row)
                return await self._keyring.unseal(tx.driver, user_id, table, column, row_id, envelope)

            async for piece in export.export_document(
                tx.conn, user_id, encrypted_columns=self._encrypted, decrypt=decrypt, progress=progress
            ):
                yield piece
            await record_action(
                tx.conn,
                user_id=user_id,
                action_type="EXPORT",
                details={"rows": counts, "audit_entries": entries},
            )

    async def start_export(self, user_id: uuid.UUID) -> AsyncIterator[bytes]:
        """The export for an HTTP response: its first piece already read, so an unknown user fails
        here, before any byte is sent; then pieces of about ``CHUNK`` bytes."""
        pieces = self.export(user_id)
        try:
            first = await anext(pieces)
        except BaseException:
            await pieces.aclose()
            raise
        return _chunked(first, pieces)

    async def erase(self, user_id: uuid.UUID) -> ErasureReport:
        """Destroy the user's keys, delete their rows, redact their audit entries; what was removed."""
        async with self._database.owner_transaction() as conn:
            await _act_for(conn, user_id)
            if not await _anything_held(conn, user_id):
                raise NotFound("user not found (nothing is held about them)", field="user_id")
            destroyed = await self._keyring.destroy(await audit_repository.driver_of(conn), user_id)
        async with self._database.owner_transaction() as conn:
            await _act_for(conn, user_id)
            tables = holdings.holding_tables()
            deleted = await holdings.count_rows(conn, user_id)
            await holdings.delete_everything(conn, user_id, tables)
            left = {table: n for table, n in (await holdings.count_rows(conn, user_id)).items() if n}
            if left:
                raise ErasureIncomplete(f"rows of the user are still there after deletion: {left}")
            redacted = await audit_repository.redact(await audit_repository.driver_of(conn), user_id)
            report = ErasureReport(
                user_id=user_id,
                data_keys_destroyed=destroyed,
                rows_deleted={table: n for table, n in deleted.items() if n},
                audit_entries_redacted=redacted,
            )
            await record_action(
                conn,
                user_id=None,
                action_type="ERASE",
                details={
                    "user_id": str(user_id),
                    "data_keys_destroyed": destroyed,
                    "rows_deleted": report.rows_deleted,
                    "audit_entries_redacted": redacted,
                },
                risk_level="high",
            )
        return report


async def _chunked(first: str, rest: AsyncIterator[str]) -> AsyncIterator[bytes]:
    buffer = [first]
    size = len(first)
    async for piece in rest:
        buffer.append(piece)
        size += len(piece)
        if size >= CHUNK:
            yield "".join(buffer).encode()
            buffer, size = [], 0
    yield "".join(buffer).encode()


async def _act_for(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    """The owner's connection, acting for the user: the tenant policies apply to the owner too."""
    for statement in principal_settings(Principal.service(user_id)):
        await conn.execute(sa.text(statement))


async def _anything_held(conn: AsyncConnection, user_id: uuid.UUID) -> bool:
    if any((await holdings.count_rows(conn, user_id)).values()):
        return True
    return bool((await conn.execute(UNREDACTED_ENTRIES, {"user_id": user_id})).scalar_one())

"""The audit trail: verification (chains, heads, live rows), heads, redaction, a user's own trail.

Cross-user work runs in the owner's transaction acting as operator; a user's own trail in the
application role's, under row-level security.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
import sqlalchemy as sa

from agentkeep.actors import Actor, acting_user, as_principal
from agentkeep.audit import repository
from agentkeep.audit.chain import Break
from agentkeep.audit.models import AuditEntry, AuditTrailPage, LiveRowProblem, VerifyReport
from agentkeep.audit.parallel import (
    Found,
    Progress,
    RangeJob,
    check_in_processes,
    check_range,
    paused_gc,
    split_chains,
)
from agentkeep.database.engine import Database
from agentkeep.database.snapshots import SharedSnapshot, shared_snapshot
from agentkeep.database.urls import asyncpg_dsn
from agentkeep.errors import InvalidInput
from agentkeep.pagination import checked_limit

SavedHeads = Mapping[str, Mapping[str, object]]
LIVE_ROW_PROBLEMS_PER_TABLE = 100
# Below about this many entries one connection is quicker than starting processes (unless the
# caller asks for connections).
PARALLEL_FROM_ENTRIES = 100_000


def parse_heads(document: object) -> dict[str, dict[int, bytes]]:
    """``{user: {"seq": n, "hash": hex}}`` as written by :meth:`AuditService.head`."""
    if not isinstance(document, dict):
        raise InvalidInput("saved heads: expected a JSON object of {user: {seq, hash}}", field="against")
    parsed: dict[str, dict[int, bytes]] = {}
    for user, head in document.items():
        try:
            user_id = str(uuid.UUID(str(user)))
            seq = int(head["seq"])
            digest = bytes.fromhex(str(head["hash"]))
        except (KeyError, TypeError, ValueError):
            raise InvalidInput(
                f"saved heads: {user!r} needs a UUID key and seq, hash", field="against"
            ) from None
        parsed[user_id] = {seq: digest}
    return parsed


def _saved_heads(against: SavedHeads | None, user_id: uuid.UUID | None) -> dict[str, dict[int, bytes]]:
    saved = parse_heads(against) if against is not None else {}
    if user_id is not None:
        saved = {user: heads for user, heads in saved.items() if user == str(user_id)}
    return saved


def _report(
    found: Sequence[Found],
    heads: Mapping[str, tuple[int, bytes]],
    saved: Mapping[str, Mapping[int, bytes]],
    problems: list[LiveRowProblem],
) -> VerifyReport:
    """One report from the chains each connection checked: breaks in the order of the chains."""
    breaks = [broken for part in found for broken in part.breaks]
    seen = set().union(*(part.seen for part in found))
    for user in {*heads, *saved} - seen:
        behind = saved.get(user)
        problem = (
            f"chain has no entries, before the saved head at seq {max(behind)} (rolled back or truncated)"
            if behind
            else "head row without entries (chain removed)"
        )
        breaks.append(Break(user, min(behind) if behind else None, problem))
    breaks.sort(key=lambda broken: broken.user_id)
    return VerifyReport(
        entries=sum(part.entries for part in found), chains=len(seen), breaks=breaks, live_rows=problems
    )


async def verify_on(
    driver: asyncpg.Connection[Any],
    tables: Sequence[sa.Table],
    user_id: uuid.UUID | None = None,
    *,
    against: SavedHeads | None = None,
    progress: Progress | None = None,
) -> VerifyReport:
    """Verification on one connection that can read every chain (the owner acting as operator,
    or a superuser), inside its transaction, so it sees what that transaction wrote: chains,
    heads, saved heads, then the live rows of ``tables`` (none: skip the live-row check)."""
    if not driver.is_in_transaction():  # the server-side cursor lives in a transaction
        async with driver.transaction(readonly=True):
            return await verify_on(driver, tables, user_id, against=against, progress=progress)
    saved = _saved_heads(against, user_id)
    heads = await repository.heads(driver, user_id)
    with paused_gc():
        found = await check_range(driver, None, heads, saved, progress, user_id)
    problems = await live_row_problems(driver, tables, user_id)
    return _report([found], heads, saved, problems)


async def verify_in_snapshot(
    snapshot: SharedSnapshot,
    tables: Sequence[sa.Table],
    *,
    connections: int,
    against: SavedHeads | None = None,
    progress: Progress | None = None,
) -> VerifyReport:
    """Every chain, in contiguous ranges of chains, each read and checked by a process of its
    own on a connection that adopts the coordinator's snapshot (audit/parallel.py); the live
    rows meanwhile on the coordinator. The coordinator and the processes act as operator (the
    snapshot's settings)."""
    coordinator = snapshot.coordinator
    saved = _saved_heads(against, None)
    heads = await repository.heads(coordinator, None)
    ranges = split_chains(await repository.chains(coordinator), connections)
    snapshot_id = await snapshot.export()

    def within(items: Mapping[str, Any], first: str, last: str) -> dict[str, Any]:
        # A UUID's text sorts as the UUID does: each process gets the heads of its range only.
        return {user: value for user, value in items.items() if first <= user <= last}

    jobs = [
        RangeJob(
            snapshot.dsn,
            snapshot_id,
            tuple(snapshot.settings),
            (first, last),
            within(heads, first, last),
            within(saved, first, last),
        )
        for first, last in ranges
    ]
    problems = asyncio.ensure_future(live_row_problems(coordinator, tables, None))
    try:
        found = await check_in_processes(jobs, progress)
        return _report(found, heads, saved, await problems)
    finally:
        problems.cancel()  # nothing once done; else the failure above is what is raised


def default_connections() -> int:
    """Connections (and processes) verification reads the chains on: one per core, up to 4."""
    return max(1, min(4, os.cpu_count() or 1))


async def live_row_problems(
    driver: asyncpg.Connection[Any], tables: Sequence[sa.Table], user_id: uuid.UUID | None = None
) -> list[LiveRowProblem]:
    """Live rows that differ from the last entry written for them (or that no entry knows)."""
    on_citus = bool(tables) and await repository.citus_installed(driver)
    checked = [
        table
        for table in tables
        if (user_id is None or table.info.get("tenancy") in ("user", "handle"))
        # The handle tables are not audited on Citus (docs/audit.md, "Citus").
        and not (on_citus and table.info.get("tenancy") == "handle")
    ]
    rows = await repository.live_row_problems(driver, checked, user_id, LIVE_ROW_PROBLEMS_PER_TABLE)
    order = {table.name: position for position, table in enumerate(checked)}
    return [
        LiveRowProblem(table_name=row[0], user_id=row[1], seq=row[2], record_id=row[3], problem=row[4])
        for row in sorted(rows, key=lambda row: order[row[0]])
    ]


class AuditService:
    def __init__(self, database: Database) -> None:
        self._database = database

    def _audited_tables(self) -> list[sa.Table]:
        schema = self._database.schema
        return repository.audited_tables(schema.metadata) if schema is not None else []

    async def count(self, user_id: uuid.UUID | None = None) -> int:
        """About how many entries :meth:`verify` reads (for a progress bar)."""
        async with self._database.owner_transaction() as conn:
            await conn.execute(sa.text(repository.ACT_AS_OPERATOR))
            return await repository.count_entries(await repository.driver_of(conn), user_id)

    async def verify(
        self,
        user_id: uuid.UUID | None = None,
        *,
        against: SavedHeads | None = None,
        progress: Progress | None = None,
        live_rows: bool = True,
        connections: int | None = None,
    ) -> VerifyReport:
        """Recompute every chain (or one user's); name each chain's first broken link.

        All chains are read in ``connections`` processes at once, each with a connection of its
        own, all on one snapshot (default: one per core, up to 4, once the trail holds
        PARALLEL_FROM_ENTRIES entries); one user's chain, or a Citus cluster, on one connection.
        """
        tables = self._audited_tables() if live_rows else []
        workers = default_connections() if connections is None else connections
        if workers < 1:
            raise InvalidInput("connections: at least 1", field="connections")
        dsn = asyncpg_dsn(self._database.urls.owner)
        async with shared_snapshot(dsn, [repository.ACT_AS_OPERATOR]) as snapshot:
            coordinator = snapshot.coordinator
            # On Citus an exported snapshot is the coordinator's alone: the workers' shards
            # would be read at other moments. One connection there (docs/audit.md).
            one = (
                user_id is not None
                or workers == 1
                or (
                    connections is None
                    and await repository.count_entries(coordinator, None) < PARALLEL_FROM_ENTRIES
                )
                or await repository.citus_installed(coordinator)
            )
            if one:
                return await verify_on(coordinator, tables, user_id, against=against, progress=progress)
            return await verify_in_snapshot(
                snapshot, tables, connections=workers, against=against, progress=progress
            )

    async def head(self) -> dict[str, dict[str, object]]:
        """Every chain's head, ``{user: {"seq": n, "hash": hex}}``, to keep outside the database."""
        async with self._database.owner_transaction() as conn:
            await conn.execute(sa.text(repository.ACT_AS_OPERATOR))
            heads = await repository.heads(await repository.driver_of(conn), None)
        return {user: {"seq": seq, "hash": digest.hex()} for user, (seq, digest) in heads.items()}

    async def redact(self, user_id: uuid.UUID) -> int:
        """Remove the personal payloads of ``user_id``'s entries (the chains still verify); the
        redaction is recorded in the operator chain. How many entries were redacted."""
        async with self._database.owner_transaction() as conn:
            await conn.execute(sa.text(repository.ACT_AS_OPERATOR))
            return await repository.redact(await repository.driver_of(conn), user_id)

    async def trail(self, actor: Actor, *, before: int | None = None, limit: int = 50) -> AuditTrailPage:
        """The acting user's own entries, newest first."""
        limit = checked_limit(limit)
        user_id = acting_user(actor)
        async with self._database.transaction(as_principal(actor)) as tx:
            rows = await repository.trail_page(tx.conn, user_id, before=before, limit=limit + 1)
        items = [
            AuditEntry.model_validate(
                {
                    **row,
                    "ip_address": None if row["ip_address"] is None else str(row["ip_address"]),
                    "entry_hash": row["entry_hash"].hex(),
                }
            )
            for row in rows[:limit]
        ]
        cursor = items[-1].seq if items and len(rows) > limit else None
        return AuditTrailPage(items=items, next_cursor=cursor)

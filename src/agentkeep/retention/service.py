"""``retention run``: archive what the rules say is due, then delete exactly those rows.

One run is one transaction on the schema owner's connection, acting as the operator principal
(revision 0007's policies), across all users:

1. ``pg_try_advisory_xact_lock(RETENTION_LOCK_KEY)``: when another run holds it, this one does
   nothing and says so (one server at a time; the lock ends with the transaction).
2. Per rule, children before parents: the due rows (age column older than the active period,
   the rule's condition, and nothing outside the due set still referring to them) are read.
3. They are written to one archive file per (table, month), each fsynced before anything is
   deleted; then exactly those rows are deleted by primary key, or a whole partition is dropped
   when every row of it is due. A count that differs rolls the whole run back.
4. The manifest (files, row counts, SHA-256) is written and the run recorded; then COMMIT.

Any failure rolls the transaction back and removes the run's folder: nothing is deleted that is
not in an archive, and no archive is left for rows that were not deleted.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.audit.actions import record_action
from agentkeep.database.engine import Database
from agentkeep.errors import AgentkeepError
from agentkeep.ids import new_id
from agentkeep.profiles import repository as profiles_repository
from agentkeep.profiles.model import Profile
from agentkeep.retention import archive
from agentkeep.retention.rules import Hold, PlannedRule, describe, identifier, plan
from agentkeep.trust.repository import aggregate_due

# The advisory lock key of a retention run: the eight bytes of 'akretent' as a bigint. Fixed and
# documented (docs/retention.md) so an operator can see, or take, it by hand.
RETENTION_LOCK_KEY = 0x616B726574656E74
TRY_LOCK = sa.text("SELECT pg_try_advisory_xact_lock(:key)")
ACT_AS_OPERATOR = sa.text("SET LOCAL agentkeep.principal = 'operator'")

DropPartition = Callable[[AsyncConnection, str, str], Awaitable[None]]
drop_partition: DropPartition | None = None
"""Drops one monthly partition (table, 'YYYY-MM'). Unset until the partitions capability is
merged (the lead wires ``agentkeep.partitions.drop_partition``); until then a fully due partition
is emptied row by row like any other table."""


class RetentionFailed(AgentkeepError):
    status_code = 500
    title = "Retention run failed"


@dataclass
class TableResult:
    rule: str
    table: str
    due: int = 0
    archived: int = 0
    deleted: int = 0
    partitions_dropped: list[str] = field(default_factory=list)
    dependents: dict[str, int] = field(default_factory=dict)
    aggregated: int = 0
    """``then = "aggregate"``: the aggregate rows written in place of the rows deleted."""
    """Rows of child tables archived and deleted with these (their foreign key cascades)."""
    files: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RunSummary:
    run_id: str
    dry_run: bool
    profile: str | None
    started_at: str
    ran: bool = True
    skipped_reason: str | None = None
    archive_folder: str | None = None
    manifest: str | None = None
    manifest_sha256: str | None = None
    tables: list[TableResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def rows_archived(self) -> int:
        return sum(result.archived for result in self.tables)

    @property
    def rows_deleted(self) -> int:
        return sum(result.deleted for result in self.tables)

    def as_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["rows_archived"] = self.rows_archived
        document["rows_deleted"] = self.rows_deleted
        return document


@dataclass
class _Row:
    line: str
    key: tuple[str, ...]
    month: str
    partition: str
    parents: dict[int, tuple[str | None, ...]]
    held: bool


class RetentionService:
    def __init__(self, database: Database, archive_root: Path) -> None:
        self._database = database
        self._archive_root = archive_root

    async def run(self, *, profile: Profile | None = None, dry_run: bool = False) -> RunSummary:
        """Run the rules of ``profile`` (default: the database's active profile)."""
        run_id = str(new_id())
        started = dt.datetime.now(dt.UTC)
        folder = self._archive_root / f"{started:%Y%m%dT%H%M%SZ}-{run_id}"
        summary = RunSummary(
            run_id=run_id, dry_run=dry_run, profile=None, started_at=started.isoformat(timespec="seconds")
        )
        try:
            async with self._database.owner_transaction() as conn:
                if not (await conn.execute(TRY_LOCK, {"key": RETENTION_LOCK_KEY})).scalar():
                    summary.ran = False
                    summary.skipped_reason = "another retention run holds the lock"
                    return summary
                await conn.execute(ACT_AS_OPERATOR)
                profile = profile or await _active_profile(conn)
                if profile is None:
                    summary.notes.append("no profile is applied: no rules")
                    return summary
                summary.profile = f"{profile.name} {profile.version}"
                planned = await plan(conn, profile)
                summary.notes.extend(planned.notes)
                for rule in planned.rules:
                    summary.tables.append(await _run_rule(conn, rule, folder, dry_run=dry_run))
                if dry_run:
                    return summary
                manifest, digest = archive.write_manifest(folder, _manifest(summary, planned.rules))
                summary.archive_folder = str(folder)
                summary.manifest, summary.manifest_sha256 = str(manifest), digest
                await _record_run(conn, summary)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return summary


async def _active_profile(conn: AsyncConnection) -> Profile | None:
    row = await profiles_repository.active(conn)
    return None if row is None else Profile.model_validate(row["content"])


async def _record_run(conn: AsyncConnection, summary: RunSummary) -> None:
    """Record the run in the operator chain of the audit log (001's 'CLEANUP' entry), in the
    run's own transaction: a run that rolls back leaves no entry. The rows it deleted have their
    own DELETE entries, written by the tables' audit triggers.
    """
    await record_action(
        conn,
        user_id=None,
        action_type="CLEANUP",
        details={
            "run_id": summary.run_id,
            "profile": summary.profile,
            "rows_archived": summary.rows_archived,
            "rows_deleted": summary.rows_deleted,
            "tables": {result.table: result.deleted for result in summary.tables},
            "partitions_dropped": [p for result in summary.tables for p in result.partitions_dropped],
            "manifest_sha256": summary.manifest_sha256,
        },
    )


def _due_sql(rule: PlannedRule, alias: str) -> str:
    """Due by age and condition, and not held by a row of another table (holds within the
    table are resolved in Python, over the whole due set)."""
    terms = [f"{alias}.{rule.age_column} < now() - CAST(CAST(:active AS text) AS interval)"]
    if rule.then == "aggregate":
        # Whole days only, so each day becomes one aggregate row; aggregates are never due again.
        terms = [
            f"{alias}.{rule.age_column} < date_trunc('day', now() - CAST(CAST(:active AS text) AS interval))",
            f"NOT {alias}.is_aggregate",
        ]
    if rule.statuses:
        terms.append(f"{alias}.status = ANY (CAST(:statuses AS text[]))")
    for index, hold in enumerate(rule.holds):
        if hold.child == rule.table:
            continue
        child = f"h{index}_{alias}"
        link = " AND ".join(
            f"{child}.{c} = {alias}.{p}" for c, p in zip(hold.child_columns, hold.parent_columns, strict=True)
        )
        terms.append(f"NOT EXISTS (SELECT FROM {hold.child} {child} WHERE {link})")
    return " AND ".join(terms)


def _self_holds(rule: PlannedRule) -> list[tuple[int, Hold]]:
    return [(index, hold) for index, hold in enumerate(rule.holds) if hold.child == rule.table]


async def _due_rows(conn: AsyncConnection, rule: PlannedRule) -> list[_Row]:
    table = rule.table
    key = ", ".join(f"t.{column}::text" for column in rule.primary_key)
    parent_columns = []
    held_terms = []
    for index, hold in _self_holds(rule):
        parent_columns.append(
            f"ARRAY[{', '.join(f't.{c}::text' for c in hold.child_columns)}] AS parent_{index}"
        )
        link = " AND ".join(
            f"c.{c} = t.{p}" for c, p in zip(hold.child_columns, hold.parent_columns, strict=True)
        )
        held_terms.append(f"EXISTS (SELECT FROM {table} c WHERE {link} AND NOT ({_due_sql(rule, 'c')}))")
    extra = "".join(f", {column}" for column in parent_columns)
    held = " OR ".join(held_terms) or "false"
    statement = sa.text(
        f"SELECT to_jsonb(t)::text AS line, ARRAY[{key}] AS key, "  # noqa: S608 - catalog identifiers
        f"to_char(t.{rule.age_column} AT TIME ZONE 'UTC', 'YYYY-MM') AS month, "
        f"t.tableoid::regclass::text AS partition, ({held}) AS held{extra} "
        f"FROM {table} t WHERE {_due_sql(rule, 't')} ORDER BY {', '.join(f't.{c}' for c in rule.primary_key)}"
    )
    params: dict[str, Any] = {"active": rule.active}
    if rule.statuses:
        params["statuses"] = list(rule.statuses)
    rows = []
    for row in (await conn.execute(statement, params)).mappings():
        parents = {index: tuple(row[f"parent_{index}"]) for index, _hold in _self_holds(rule)}
        rows.append(
            _Row(row["line"], tuple(row["key"]), row["month"], row["partition"], parents, row["held"])
        )
    return _release_held(rule, rows)


def _release_held(rule: PlannedRule, rows: list[_Row]) -> list[_Row]:
    """Drop the rows a kept row of the same table still refers to, up every chain of parents."""
    holds = _self_holds(rule)
    if not holds:
        return rows
    by_key = {row.key: row for row in rows}
    kept: set[tuple[str, ...]] = {row.key for row in rows if row.held}
    pending = list(kept)
    # A kept row keeps its parent: walk from each kept row to the parents it points at.
    parent_of = {
        row.key: [_parent_key(rule, hold, row.parents[index]) for index, hold in holds] for row in rows
    }
    while pending:
        current = pending.pop()
        for parent in parent_of.get(current, []):
            if parent is not None and parent in by_key and parent not in kept:
                kept.add(parent)
                pending.append(parent)
    return [row for row in rows if row.key not in kept]


def _parent_key(rule: PlannedRule, hold: Hold, values: tuple[str | None, ...]) -> tuple[str, ...] | None:
    """The primary key a self-reference points at (None when the reference is empty)."""
    if any(value is None for value in values):
        return None
    by_column = dict(zip(hold.parent_columns, values, strict=True))
    if not set(rule.primary_key) <= set(by_column):
        return None
    return tuple(str(by_column[column]) for column in rule.primary_key)


async def _run_rule(conn: AsyncConnection, rule: PlannedRule, folder: Path, *, dry_run: bool) -> TableResult:
    result = TableResult(rule=rule.key, table=rule.table)
    rows = await _due_rows(conn, rule)
    result.due = len(rows)
    if dry_run or not rows:
        return result
    by_month: dict[str, list[_Row]] = defaultdict(list)
    for row in rows:
        by_month[row.month].append(row)
    for month, month_rows in sorted(by_month.items()):
        written = archive.write_rows(folder, rule.table, month, (row.line for row in month_rows))
        result.archived += written.rows
        result.files.append(
            {
                "file": written.path.name,
                "table": rule.table,
                "month": month,
                "rows": written.rows,
                "sha256": written.sha256,
            }
        )
    droppable = await _fully_due_partitions(conn, rule, rows) if rule.partitioned and drop_partition else {}
    for partition, month in droppable.items():
        assert drop_partition is not None
        await drop_partition(conn, rule.table, month)
        result.partitions_dropped.append(partition)
        result.deleted += sum(1 for row in rows if row.partition == partition)
    if rule.then == "aggregate":
        params: dict[str, Any] = {"active": rule.active}
        result.aggregated = await aggregate_due(conn, _due_sql(rule, "t"), params)
    for dependent in rule.dependents:
        await _archive_and_delete_dependents(conn, rule, dependent, rows, folder, result)
    remaining = [row for row in rows if row.partition not in droppable]
    result.deleted += await _delete(conn, rule, [row.key for row in remaining])
    if result.deleted != result.archived:
        raise RetentionFailed(
            f"{rule.key}: archived {result.archived} rows of {rule.table} but deleted {result.deleted}: "
            "rolled back (rows changed during the run)"
        )
    return result


async def _archive_and_delete_dependents(
    conn: AsyncConnection,
    rule: PlannedRule,
    dependent: Hold,
    rows: list[_Row],
    folder: Path,
    result: TableResult,
) -> None:
    """Rows of ``dependent.child`` that ON DELETE CASCADE would remove with the due rows: archived
    (``<child>-<month>`` files, month of their created_at) and deleted before their parents."""
    child_key = await _primary_key(conn, dependent.child)
    types = await _column_types(conn, dependent.child, dependent.child_columns)
    parents = [json.loads(row.line) for row in rows]
    keys = [tuple(str(parent[column]) for column in dependent.parent_columns) for parent in parents]
    found: list[Any] = []
    for match, params in _matching(" c", dependent.child_columns, types, keys):
        statement = sa.text(
            f"SELECT to_jsonb(c)::text AS line, ARRAY[{', '.join(f'c.{k}::text' for k in child_key)}] "  # noqa: S608
            "AS key, "
            "to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month "
            f"FROM {dependent.child} c WHERE {match} ORDER BY {', '.join(f'c.{k}' for k in child_key)}"
        )
        found += (await conn.execute(statement, params)).mappings().all()
    by_month: dict[str, list[str]] = defaultdict(list)
    for row in found:
        by_month[row["month"]].append(row["line"])
    archived = 0
    for month, lines in sorted(by_month.items()):
        written = archive.write_rows(folder, dependent.child, month, lines)
        archived += written.rows
        result.files.append(
            {
                "file": written.path.name,
                "table": dependent.child,
                "month": month,
                "rows": written.rows,
                "sha256": written.sha256,
                "with": rule.table,
            }
        )
    deleted = await _delete_keys(conn, dependent.child, child_key, [tuple(row["key"]) for row in found])
    if deleted != archived:
        raise RetentionFailed(
            f"{rule.key}: archived {archived} rows of {dependent.child} but deleted {deleted}: rolled back"
        )
    result.dependents[dependent.child] = result.dependents.get(dependent.child, 0) + deleted


async def _fully_due_partitions(conn: AsyncConnection, rule: PlannedRule, rows: list[_Row]) -> dict[str, str]:
    """Partitions every row of which is due: partition name -> its month."""
    due: dict[str, int] = defaultdict(int)
    months: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        due[row.partition] += 1
        months[row.partition].add(row.month)
    counts = sa.text(
        f"SELECT t.tableoid::regclass::text AS partition, count(*) AS total FROM {rule.table} t GROUP BY 1"  # noqa: S608
    )
    whole = {}
    for counted in (await conn.execute(counts)).mappings():
        name = counted["partition"]
        if due.get(name) == counted["total"] and len(months[name]) == 1:
            whole[name] = next(iter(months[name]))
    return whole


_KEY_TYPES = sa.text(
    "SELECT format_type(a.atttypid, a.atttypmod) FROM unnest(CAST(:columns AS text[])) "
    "WITH ORDINALITY AS k(name, position) JOIN pg_attribute a "
    "ON a.attrelid = to_regclass(:table) AND a.attname = k.name ORDER BY k.position"
)


async def _delete(conn: AsyncConnection, rule: PlannedRule, keys: list[tuple[str, ...]]) -> int:
    return await _delete_keys(conn, rule.table, rule.primary_key, keys)


_PRIMARY_KEY = sa.text(
    "SELECT a.attname FROM pg_constraint c "
    "CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, position) "
    "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum "
    "WHERE c.conrelid = to_regclass(:table) AND c.contype = 'p' ORDER BY k.position"
)


async def _primary_key(conn: AsyncConnection, table: str) -> tuple[str, ...]:
    return tuple(identifier(row[0]) for row in await conn.execute(_PRIMARY_KEY, {"table": table}))


async def _column_types(conn: AsyncConnection, table: str, columns: tuple[str, ...]) -> list[str]:
    found = await conn.execute(_KEY_TYPES, {"columns": list(columns), "table": table})
    return [_checked_type(row[0]) for row in found]


async def _delete_keys(
    conn: AsyncConnection, table: str, key: tuple[str, ...], keys: list[tuple[str, ...]]
) -> int:
    """Delete exactly the rows with these primary keys; the number deleted."""
    if not keys:
        return 0
    types = await _column_types(conn, table, key)
    deleted = 0
    for match, params in _matching(" t", key, types, keys):
        statement = sa.text(f"DELETE FROM {table} t WHERE {match}")  # noqa: S608 - catalog identifiers
        deleted += int((await conn.execute(statement, params)).rowcount or 0)
    return deleted


def _matching(
    alias: str, columns: tuple[str, ...], types: list[str], keys: list[tuple[str, ...]]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Conditions matching ``keys`` on ``columns``, one per value of the first column (user_id,
    the distribution column): on Citus each is a single-shard statement (Citus refuses a row
    comparison with a multi-column unnest), on PostgreSQL an index lookup. The values travel as
    text and are cast on the server to the columns' types."""
    name = alias.strip()
    groups: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for key in keys:
        groups[key[0]].append(key[1:])
    first = f"{name}.{columns[0]} = CAST(CAST(:first AS text) AS {types[0]})"
    rest = columns[1:]
    for value, others in groups.items():
        params: dict[str, Any] = {"first": value}
        terms = [first]
        if len(rest) == 1:
            terms.append(f"{name}.{rest[0]} = ANY (CAST(CAST(:rest0 AS text[]) AS {types[1]}[]))")
            params["rest0"] = [other[0] for other in others]
        elif rest:
            arrays = ", ".join(
                f"CAST(CAST(:rest{index} AS text[]) AS {kind}[])" for index, kind in enumerate(types[1:])
            )
            listed = ", ".join(f"{name}.{column}" for column in rest)
            terms.append(f"({listed}) IN (SELECT * FROM unnest({arrays}))")  # noqa: S608 - identifiers
            params |= {f"rest{index}": [other[index] for other in others] for index in range(len(rest))}
        yield " AND ".join(terms), params


def _checked_type(name: str) -> str:
    allowed = {"uuid", "bigint", "integer", "text", "timestamp with time zone", "date"}
    if name not in allowed:
        raise RetentionFailed(f"retention: primary-key type {name!r} is not supported")
    return name


def _manifest(summary: RunSummary, rules: tuple[PlannedRule, ...]) -> dict[str, Any]:
    return {
        "format": "agentkeep-retention-manifest/1",
        "run_id": summary.run_id,
        "started_at": summary.started_at,
        "profile": summary.profile,
        "rules": [describe(rule) for rule in rules],
        "files": [entry for result in summary.tables for entry in result.files],
        "tables": {
            result.table: {"archived": result.archived, "deleted": result.deleted}
            for result in summary.tables
        },
        "partitions_dropped": [p for result in summary.tables for p in result.partitions_dropped],
        "notes": summary.notes,
    }


def to_json(summary: RunSummary) -> str:
    return json.dumps(summary.as_dict(), sort_keys=True)


__all__ = ["RETENTION_LOCK_KEY", "RetentionService", "RunSummary"]

"""Retention rules: the profile's ``retention.rules`` checked against the live schema.

A rule names a table (its key), the column its age is measured from, the period it stays online,
an optional condition (``only_status``) and what happens after (``then``). ``retention run``
archives and deletes what is due; the plan below is what it runs, children before parents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.errors import AgentkeepError
from agentkeep.profiles.model import Profile, RetentionRule

# The tables revisions 0007, 0010, 0012, 0013 and 0014 give the operator read and delete policies
# on. A rule on another existing table is refused: the owner could not see (so not archive) its rows.
OPERABLE_TABLES = (
    "messages",
    "conversations",
    "agent_sessions",
    "user_sessions",
    "persona_activations",
    "decisions",
    "onboarding_answers",
    # revision 0012: 001 keeps governance events seven years; they go with their agent session.
    "governance_events",
    "trust_metrics",
    # Revision 0013: deleted (and archived) with their message.
    "ethical_validations",
)
# Tables whose ``then = "aggregate"`` rule runs: their raw rows are archived, rolled into one
# row per day (agentkeep.trust.repository.aggregate_due), and deleted. Others keep the hook note.
AGGREGATABLE_TABLES = ("trust_metrics",)
# The audit trail refuses every delete (revision 0005): its chains would need an anchor where
# pruned entries end (a signed head kept outside, docs/audit.md) before entries may go.
APPEND_ONLY_TABLES = ("audit_log",)
APPEND_ONLY_NOTE = "kept: the audit trail is append-only and pruning its chains is not built yet"
# Rules whose table does not exist yet are declared hooks: skipped with a note until it does.
AGGREGATE_HOOK_NOTE = "aggregation is a declared hook: nothing to do until {table} exists"
# 'last_activity' is each table's own activity column, the first of these it has.
LAST_ACTIVITY_COLUMNS = ("last_activity_at", "last_message_at", "updated_at")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class RetentionRuleError(AgentkeepError):
    """A rule that cannot run on this database: the message names the profile key."""

    status_code = 422
    title = "Invalid retention rule"


@dataclass(frozen=True)
class Hold:
    """A foreign key into the rule's table. As a hold: a row still referenced by a child row is
    kept. As a dependent (ON DELETE CASCADE, and no rule of the child's own): the child rows go
    with their parent, archived first like it."""

    child: str
    child_columns: tuple[str, ...]
    parent_columns: tuple[str, ...]


@dataclass(frozen=True)
class PlannedRule:
    key: str
    table: str
    age_column: str
    active: str
    archived: str | None
    then: str
    statuses: tuple[str, ...]
    primary_key: tuple[str, ...]
    holds: tuple[Hold, ...]
    dependents: tuple[Hold, ...]
    partitioned: bool


@dataclass(frozen=True)
class Plan:
    rules: tuple[PlannedRule, ...]
    notes: tuple[str, ...]


def identifier(name: str) -> str:
    """A catalog name used in SQL: only plain lower-case identifiers ever reach a statement."""
    if not _IDENTIFIER.match(name):
        raise RetentionRuleError(f"retention: {name!r} is not a plain identifier")
    return name


_COLUMNS = sa.text(
    "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(:table) AND attnum > 0 "
    "AND NOT attisdropped ORDER BY attnum"
)
_KIND = sa.text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:table)")
_PRIMARY_KEY = sa.text(
    "SELECT a.attname FROM pg_constraint c "
    "CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, position) "
    "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum "
    "WHERE c.conrelid = to_regclass(:table) AND c.contype = 'p' ORDER BY k.position"
)
# Foreign keys into the table (the partitions' inherited copies left out: conparentid = 0).
_REFERENCING = sa.text(
    "SELECT c.conrelid::regclass::text AS child, "
    "ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, position) "
    "      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum "
    "      ORDER BY k.position)::text[] AS child_columns, "
    "ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, position) "
    "      JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum "
    "      ORDER BY k.position)::text[] AS parent_columns, "
    "c.confdeltype::text AS on_delete "
    "FROM pg_constraint c WHERE c.contype = 'f' AND c.conparentid = 0 "
    "AND c.confrelid = to_regclass(:table) ORDER BY c.conname"
)


async def plan(conn: AsyncConnection, profile: Profile) -> Plan:
    """The runnable rules of ``profile`` in delete order, and a note for each one skipped.

    Raises :class:`RetentionRuleError` naming the key for a rule this database cannot run.
    """
    planned: dict[str, PlannedRule] = {}
    notes: list[str] = []
    ruled: set[str] = {
        key for key, rule in profile.retention.rules.items() if rule.then != "aggregate" and rule.active
    }
    for key, rule in profile.retention.rules.items():
        where = f"retention.rules.{key}"
        table = identifier(key)
        kind = (await conn.execute(_KIND, {"table": table})).scalar()
        if kind is None:
            if rule.then == "aggregate":
                notes.append(f"{where}: " + AGGREGATE_HOOK_NOTE.format(table=table))
            else:
                notes.append(f"{where}: skipped: table {table} does not exist yet")
            continue
        if rule.then == "aggregate" and table not in AGGREGATABLE_TABLES:
            notes.append(f"{where}: aggregation of {table} is not implemented yet: nothing done")
            continue
        if rule.active is None:
            notes.append(f"{where}: no active period: nothing is due")
            continue
        if table in APPEND_ONLY_TABLES:
            notes.append(f"{where}: {APPEND_ONLY_NOTE}")
            continue
        if table not in OPERABLE_TABLES:
            raise RetentionRuleError(
                f"{where}: table {table} has no operator delete policy (retention can run on "
                f"{', '.join(OPERABLE_TABLES)})"
            )
        planned[table] = await _plan_rule(conn, where, table, rule, kind == "p", ruled)
    return Plan(rules=_children_first(planned), notes=tuple(notes))


async def _plan_rule(
    conn: AsyncConnection, where: str, table: str, rule: RetentionRule, partitioned: bool, ruled: set[str]
) -> PlannedRule:
    columns = [row[0] for row in await conn.execute(_COLUMNS, {"table": table})]
    age_column = _age_column(where, table, rule.measured_from, columns)
    if rule.only_status and "status" not in columns:
        raise RetentionRuleError(f"{where}.only_status: table {table} has no column status")
    primary_key = tuple(identifier(row[0]) for row in await conn.execute(_PRIMARY_KEY, {"table": table}))
    if not primary_key:
        raise RetentionRuleError(f"{where}: table {table} has no primary key")
    holds, dependents = [], []
    for row in (await conn.execute(_REFERENCING, {"table": table})).mappings():
        child = identifier(str(row["child"]))
        if row["on_delete"] in ("n", "d"):
            continue  # SET NULL / SET DEFAULT: deleting the parent leaves the child row whole
        if child not in OPERABLE_TABLES:
            raise RetentionRuleError(
                f"{where}: rows of {child} refer to {table}, and retention cannot see {child}'s rows"
            )
        link = Hold(
            child=child,
            child_columns=tuple(identifier(c) for c in row["child_columns"]),
            parent_columns=tuple(identifier(c) for c in row["parent_columns"]),
        )
        if row["on_delete"] == "c" and child != table and child not in ruled:
            dependents.append(link)
        else:
            holds.append(link)
    return PlannedRule(
        key=where,
        table=table,
        age_column=age_column,
        active=rule.active or "",
        archived=rule.archived,
        then=rule.then,
        statuses=rule.only_status,
        primary_key=primary_key,
        holds=tuple(holds),
        dependents=tuple(dependents),
        partitioned=partitioned,
    )


def _age_column(where: str, table: str, measured_from: str, columns: list[str]) -> str:
    if measured_from == "last_activity":
        for candidate in LAST_ACTIVITY_COLUMNS:
            if candidate in columns:
                return candidate
        raise RetentionRuleError(f"{where}.measured_from: table {table} has no last-activity column")
    if measured_from not in columns:
        raise RetentionRuleError(f"{where}.measured_from: table {table} has no column {measured_from}")
    return identifier(measured_from)


def _children_first(planned: dict[str, PlannedRule]) -> tuple[PlannedRule, ...]:
    """Order the rules so that a table comes before every table it refers to."""
    ordered: list[PlannedRule] = []
    visiting: set[str] = set()

    def visit(table: str) -> None:
        if table in visiting or any(rule.table == table for rule in ordered):
            return
        visiting.add(table)
        rule = planned[table]
        for hold in rule.holds:
            if hold.child != table and hold.child in planned:
                visit(hold.child)
        ordered.append(rule)

    for table in planned:
        visit(table)
    return tuple(ordered)


def describe(rule: PlannedRule) -> dict[str, Any]:
    return {
        "table": rule.table,
        "age_column": rule.age_column,
        "active": rule.active,
        "archived": rule.archived,
        "then": rule.then,
        "only_status": list(rule.statuses),
    }

"""Health checks of an agentkeep database: what `agentkeep doctor` reports.

Data only: each check is a function from the owner's connection and the declared tables to a
:class:`Check`; the CLI prints them. A new check is one more function in :data:`DATABASE_CHECKS`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.database import migrate
from agentkeep.database.declared import DeclaredSchema
from agentkeep.database.engine import Database
from agentkeep.database.roles import APP_ROLE

MINIMUM_SERVER_VERSION = 150000

# What needs pgvector today (nothing yet), and what will: doctor says which, so that a database
# without it is not reported broken before anything uses it.
PGVECTOR_NEEDED_BY: tuple[str, ...] = ()
PGVECTOR_PLANNED_FOR = "the memory features (embeddings, a later release)"

SERVER_VERSION = sa.text(
    "SELECT current_setting('server_version_num')::int, current_setting('server_version')"
)
VECTOR = sa.text(
    "SELECT (SELECT default_version FROM pg_available_extensions WHERE name = 'vector'),"
    " (SELECT extversion FROM pg_extension WHERE extname = 'vector')"
)
APP_ROLE_FLAGS = sa.text(
    "SELECT rolsuper, rolbypassrls, "
    " (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid AND c.relkind IN ('r', 'p', 'v', 'm'))"
    " FROM pg_roles r WHERE rolname = :role"
)
APP_ROLE_MAY_CREATE = sa.text(
    "SELECT has_database_privilege(:role, current_database(), 'CREATE'),"
    " has_database_privilege(:role, current_database(), 'TEMPORARY'),"
    " has_schema_privilege(:role, current_schema(), 'CREATE')"
)
TABLE_SECURITY = sa.text(
    "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
    " (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)"
    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = current_schema() AND c.relname = ANY(:tables)"
)


@dataclass(frozen=True)
class Check:
    """One finding. ``ok`` False fails doctor; a ``warning`` is shown but does not fail it."""

    name: str
    ok: bool
    detail: str
    warning: str | None = None


DatabaseCheck = Callable[[AsyncConnection, DeclaredSchema | None], Awaitable[Check]]


async def server_version(conn: AsyncConnection, schema: DeclaredSchema | None) -> Check:
    version_num, version = (await conn.execute(SERVER_VERSION)).one()
    return Check(
        "PostgreSQL version", version_num >= MINIMUM_SERVER_VERSION, f"{version} (15 or newer needed)"
    )


async def pgvector(conn: AsyncConnection, schema: DeclaredSchema | None) -> Check:
    available, installed = (await conn.execute(VECTOR)).one()
    if installed:
        state = f"installed {installed}"
    elif available:
        state = f"available {available}, not installed"
    else:
        state = "not available"
    if PGVECTOR_NEEDED_BY:
        needs = f"needed by {', '.join(PGVECTOR_NEEDED_BY)}"
    else:
        needs = f"nothing needs it yet; {PGVECTOR_PLANNED_FOR} will"
    return Check("pgvector", bool(available or installed) or not PGVECTOR_NEEDED_BY, f"{state}: {needs}")


async def application_role(conn: AsyncConnection, schema: DeclaredSchema | None) -> Check:
    role = (await conn.execute(APP_ROLE_FLAGS, {"role": APP_ROLE})).one_or_none()
    if role is None:
        return Check("application role", False, f"role {APP_ROLE} does not exist")
    is_super, bypasses_rls, owned = role
    return Check(
        "application role",
        not is_super and not bypasses_rls and owned == 0,
        f"{APP_ROLE}: superuser={is_super}, bypassrls={bypasses_rls}, owns {owned} relation(s)",
    )


async def application_role_creates_nothing(conn: AsyncConnection, schema: DeclaredSchema | None) -> Check:
    name = "creation rights"
    if (await conn.execute(APP_ROLE_FLAGS, {"role": APP_ROLE})).one_or_none() is None:
        return Check(name, False, f"role {APP_ROLE} does not exist")
    on_database, temporary, on_schema = (await conn.execute(APP_ROLE_MAY_CREATE, {"role": APP_ROLE})).one()
    allowed = [
        what
        for what, may in (
            ("CREATE on the database", on_database),
            ("TEMPORARY on the database", temporary),
            ("CREATE on the schema", on_schema),
        )
        if may
    ]
    if not allowed:
        return Check(name, True, f"{APP_ROLE} may not create schemas, tables or temporary tables")
    return Check(
        name,
        False,
        f"{APP_ROLE} has {', '.join(allowed)} (usually through PUBLIC): as the database owner run"
        " REVOKE CREATE, TEMPORARY ON DATABASE <name> FROM PUBLIC;"
        " REVOKE CREATE ON SCHEMA public FROM PUBLIC",
    )


async def row_level_security(conn: AsyncConnection, schema: DeclaredSchema | None) -> Check:
    if schema is None:
        return Check("row-level security", False, "not checked: the database was opened without its tables")
    user_tables = [table.name for table in schema.tables_by_tenancy("user")]
    security = {row[0]: row[1:] for row in await conn.execute(TABLE_SECURITY, {"tables": user_tables})}
    missing = [name for name in user_tables if name not in security]
    if missing:
        return Check("row-level security", False, f"tables not created yet: {', '.join(missing)}")
    unprotected = [
        name
        for name in user_tables
        if not (security[name][0] and security[name][1] and security[name][2] > 0)
    ]
    return Check(
        "row-level security",
        not unprotected,
        f"not enabled, forced and with a policy: {', '.join(unprotected)}"
        if unprotected
        else f"enabled and forced on all {len(user_tables)} user tables",
    )


CITUS_INSTALLED = sa.text("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')")
CITUS_TABLES = sa.text(
    "SELECT table_name::text, citus_table_type, distribution_column, colocation_id FROM citus_tables"
)


async def distribution(conn: AsyncConnection, schema: DeclaredSchema | None) -> Check:
    """On Citus: each table's kind and colocation; a user table not sharded by user_id with users fails.

    Expected (docs/scale-out.md): user tables distributed by user_id, co-located with ``users``;
    catalogs and operator tables are reference tables; handle tables distributed by their key.
    """
    if not (await conn.execute(CITUS_INSTALLED)).scalar():
        return Check("distribution", True, "plain PostgreSQL (no citus extension): nothing to distribute")
    if schema is None:
        return Check("distribution", False, "not checked: the database was opened without its tables")
    placed = {row[0]: tuple(row[1:]) for row in await conn.execute(CITUS_TABLES)}
    users_group = placed.get("users", (None, None, None))[2]
    expected: dict[str, tuple[str, str | None, object]] = {}
    for table in schema.tables_by_tenancy("user"):
        expected[table.name] = ("distributed", "user_id", users_group)
    for tenancy in ("catalog", "operator"):
        for table in schema.tables_by_tenancy(tenancy):
            expected[table.name] = ("reference", None, None)
    for table in schema.tables_by_tenancy("handle"):
        expected[table.name] = ("distributed", next(iter(table.primary_key.columns)).name, None)
    wrong, described = [], []
    for name, (kind, column, group) in expected.items():
        actual_kind, actual_column, actual_group = placed.get(name, ("local", None, None))
        described.append(
            f"{name}: {actual_kind}"
            + (f" by {actual_column}, colocation {actual_group}" if actual_kind == "distributed" else "")
        )
        if actual_kind != kind or (column and actual_column != column) or (group and actual_group != group):
            wrong.append(
                f"{name} should be {kind}"
                + (f" by {column}" if column else "")
                + (" co-located with users" if group else "")
            )
    detail = "; ".join(wrong) if wrong else ", ".join(described)
    return Check("distribution", not wrong, detail)


DURABILITY_SETTINGS = sa.text(
    "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit') ORDER BY name"
)


async def durability(conn: AsyncConnection, schema: DeclaredSchema | None) -> Check:
    """Warns when a crash could corrupt data (fsync off) or lose the last commits (synchronous_commit off)."""
    settings = {name: setting for name, setting in await conn.execute(DURABILITY_SETTINGS)}
    detail = ", ".join(f"{name}={value}" for name, value in sorted(settings.items()))
    risks = []
    if settings.get("fsync") == "off":
        risks.append("fsync is off: a crash of the server or machine can corrupt the database")
    if settings.get("synchronous_commit") == "off":
        risks.append("synchronous_commit is off: a crash can lose the last commits already acknowledged")
    return Check("durability", True, detail, "; ".join(risks) or None)


# Seed 001's db_health_check(), served by name in the devassist compatibility schema (migration
# 0003), is the one source of the three metrics and their thresholds; doctor reads it as the owner.
HEALTH_CHECK_PRESENT = sa.text("SELECT to_regprocedure('devassist.db_health_check()') IS NOT NULL")
HEALTH_CHECK = sa.text(
    "SELECT metric::text, value::float8, threshold::float8 FROM devassist.db_health_check()"
)
# The seed compares every metric as value <= threshold, which flags a GOOD cache hit ratio (95%
# against 90%) and passes a bad one: a ratio is healthy at or above its threshold.
AT_LEAST_THRESHOLD = frozenset({"cache_hit_ratio"})


async def health_metrics(conn: AsyncConnection, schema: DeclaredSchema | None) -> Check:
    """Seed 001's health metrics: active connections, database size (MB), cache hit ratio (%)."""
    name = "health metrics"
    if not (await conn.execute(HEALTH_CHECK_PRESENT)).scalar():
        return Check(
            name, True, "not read: devassist.db_health_check() is missing (run `agentkeep migrate up`)"
        )
    values, beyond = [], []
    for metric, value, threshold in await conn.execute(HEALTH_CHECK):
        healthy = value >= threshold if metric in AT_LEAST_THRESHOLD else value <= threshold
        bound = ">=" if metric in AT_LEAST_THRESHOLD else "<="
        values.append(f"{metric}={value:g} (ok {bound} {threshold:g})")
        if not healthy:
            beyond.append(f"{metric} is {value:g}, threshold {bound} {threshold:g}")
    return Check(name, True, ", ".join(values), "; ".join(beyond) or None)


DATABASE_CHECKS: tuple[DatabaseCheck, ...] = (
    server_version,
    pgvector,
    application_role,
    application_role_creates_nothing,
    row_level_security,
    distribution,
    durability,
    health_metrics,
)


async def run_checks(database: Database) -> list[Check]:
    try:
        async with database.owner_transaction() as conn:
            checks = [await check(conn, database.schema) for check in DATABASE_CHECKS]
    except Exception as exc:
        return [Check("database reachable", False, f"{type(exc).__name__}: {exc}".splitlines()[0])]
    pending = await migrate.pending(database)
    return [
        Check("database reachable", True, str(database.urls.owner.render_as_string(hide_password=True))),
        *checks,
        Check(
            "migrations",
            not pending,
            f"pending: {', '.join(pending)} (run `agentkeep migrate up`)" if pending else "all applied",
        ),
    ]

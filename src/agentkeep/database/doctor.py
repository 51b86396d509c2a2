"""Health checks of an agentkeep database: what `agentkeep doctor` reports."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from agentkeep.database import migrate
from agentkeep.database.engine import Database
from agentkeep.database.schema import tables_by_tenancy
from agentkeep.settings import APP_ROLE

MINIMUM_SERVER_VERSION = 150000

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
TABLE_SECURITY = sa.text(
    "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
    " (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)"
    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = current_schema() AND c.relname = ANY(:tables)"
)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


async def run_checks(database: Database) -> list[Check]:
    checks: list[Check] = []
    try:
        async with database.owner_transaction() as conn:
            version_num, version = (await conn.execute(SERVER_VERSION)).one()
            available, installed = (await conn.execute(VECTOR)).one()
            role = (await conn.execute(APP_ROLE_FLAGS, {"role": APP_ROLE})).one_or_none()
            user_tables = [t.name for t in tables_by_tenancy("user")]
            security = {
                row[0]: row[1:] for row in await conn.execute(TABLE_SECURITY, {"tables": user_tables})
            }
    except Exception as exc:
        return [Check("database reachable", False, f"{type(exc).__name__}: {exc}".splitlines()[0])]
    checks.append(
        Check("database reachable", True, str(database.urls.owner.render_as_string(hide_password=True)))
    )
    checks.append(
        Check("PostgreSQL version", version_num >= MINIMUM_SERVER_VERSION, f"{version} (15 or newer needed)")
    )
    checks.append(
        Check(
            "pgvector",
            available is not None,
            f"installed {installed}"
            if installed
            else (f"available {available}" if available else "not available"),
        )
    )
    if role is None:
        checks.append(Check("application role", False, f"role {APP_ROLE} does not exist"))
    else:
        is_super, bypasses_rls, owned = role
        ok = not is_super and not bypasses_rls and owned == 0
        checks.append(
            Check(
                "application role",
                ok,
                f"{APP_ROLE}: superuser={is_super}, bypassrls={bypasses_rls}, owns {owned} relation(s)",
            )
        )
    unprotected = [
        name
        for name in user_tables
        if name in security and not (security[name][0] and security[name][1] and security[name][2] > 0)
    ]
    missing = [name for name in user_tables if name not in security]
    if missing:
        checks.append(Check("row-level security", False, f"tables not created yet: {', '.join(missing)}"))
    else:
        checks.append(
            Check(
                "row-level security",
                not unprotected,
                f"not enabled, forced and with a policy: {', '.join(unprotected)}"
                if unprotected
                else f"enabled and forced on all {len(user_tables)} user tables",
            )
        )
    checks.append(await distribution_check(database))
    pending = await migrate.pending(database)
    checks.append(
        Check(
            "migrations",
            not pending,
            f"pending: {', '.join(pending)} (run `agentkeep migrate up`)" if pending else "all applied",
        )
    )
    return checks


CITUS_INSTALLED = sa.text("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')")
CITUS_TABLES = sa.text(
    "SELECT table_name::text, citus_table_type, distribution_column, colocation_id FROM citus_tables"
)


async def distribution_check(database: Database) -> Check:
    """On Citus: each table's kind and colocation; a user table not sharded by user_id with users fails.

    Expected (docs/scale-out.md): user tables distributed by user_id, co-located with ``users``;
    catalogs and operator tables are reference tables; handle tables distributed by their key.
    """
    async with database.owner_transaction() as conn:
        if not (await conn.execute(CITUS_INSTALLED)).scalar():
            return Check("distribution", True, "plain PostgreSQL (no citus extension): nothing to distribute")
        placed = {row[0]: tuple(row[1:]) for row in await conn.execute(CITUS_TABLES)}
    users_group = placed.get("users", (None, None, None))[2]
    expected: dict[str, tuple[str, str | None, object]] = {}
    for table in tables_by_tenancy("user"):
        expected[table.name] = ("distributed", "user_id", users_group)
    for tenancy in ("catalog", "operator"):
        for table in tables_by_tenancy(tenancy):
            expected[table.name] = ("reference", None, None)
    for table in tables_by_tenancy("handle"):
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

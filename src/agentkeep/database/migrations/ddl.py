"""DDL that revisions from 0002 on share: tables made and distributed at once (Citus), tenancy
policies, grants and the updated_at trigger. Revision 0001 keeps its own frozen copy of what it
used (ddl_0001.py), so a change here never changes an applied revision.

Identifiers come from revision code, never from input; each is checked before use.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from alembic import op

from agentkeep.database.migrations import audit_0015
from agentkeep.database.roles import APP_ROLE

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _checked(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return name


def updated_at_trigger(table: str) -> None:
    table = _checked(table)
    op.execute(
        f"CREATE TRIGGER trg_{table}_updated_at BEFORE UPDATE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION agentkeep_set_updated_at()"
    )


# ---------------------------------------------------------------------------------------------
# From revision 0002 on: DDL that also works on Citus (docs/scale-out.md).
#
# Citus refuses sub-selects in the policies of distributed tables, so the acting user is read
# with a plain expression. It is still NULL when unset (fail-closed), and current_setting() is
# STABLE, so an index condition on user_id evaluates it once per scan.
# ---------------------------------------------------------------------------------------------

ACTING_USER_ID = "NULLIF(current_setting('agentkeep.user_id', true), '')::uuid"
SERVICE_PRINCIPAL = "coalesce(current_setting('agentkeep.principal', true), '') = 'service'"
# Every user table is distributed by this column and co-located with this table.
DISTRIBUTION_COLUMN = "user_id"
COLOCATION_TABLE = "users"


def citus_installed() -> bool:
    """True when the database has the citus extension: tables are then distributed as made."""
    installed = op.get_bind().exec_driver_sql(
        "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')"
    )
    return bool(installed.scalar())


def audit_row_function() -> str:
    """The audit row trigger's function (revision 0005): on Citus the one that writes the
    co-located audit shards from the worker (docs/audit.md, "Citus")."""
    return "audit_row_citus" if citus_installed() else "audit_row"


def _allow_triggers_on_distributed_tables() -> None:
    # Citus refuses to distribute a table with triggers, or to add one to a distributed table,
    # unless told the triggers are safe: ours only touch the row itself or the same user's rows.
    if citus_installed():
        op.execute("SET LOCAL citus.enable_unsafe_triggers = on")
        # Distributing, then adding foreign keys in the same transaction needs one connection per
        # worker, or Citus refuses the DDL after a parallel step.
        op.execute("SET LOCAL citus.multi_shard_modify_mode = 'sequential'")


def tenant_policy(table: str) -> None:
    """Rows of one user: the acting user's rows only, for every role, the owner included."""
    table = _checked(table)
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY {table}_tenant ON {table} FOR ALL "
        f"USING (user_id = {ACTING_USER_ID}) WITH CHECK (user_id = {ACTING_USER_ID})"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")


def catalog_policy(table: str) -> None:
    """Shared catalogs: everyone reads; only a service principal writes."""
    table = _checked(table)
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY {table}_read ON {table} FOR SELECT USING (true)")
    op.execute(f"CREATE POLICY {table}_insert ON {table} FOR INSERT WITH CHECK ({SERVICE_PRINCIPAL})")
    op.execute(
        f"CREATE POLICY {table}_update ON {table} FOR UPDATE "
        f"USING ({SERVICE_PRINCIPAL}) WITH CHECK ({SERVICE_PRINCIPAL})"
    )
    op.execute(f"CREATE POLICY {table}_delete ON {table} FOR DELETE USING ({SERVICE_PRINCIPAL})")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")


def add_updated_at_trigger(table: str) -> None:
    """The updated_at trigger, on a plain or an already distributed table."""
    _allow_triggers_on_distributed_tables()
    updated_at_trigger(table)


def distribute_by_user(table: str) -> None:
    """A user table: shards by user_id, each user's rows beside their ``users`` row. No-op without Citus."""
    if citus_installed():
        _allow_triggers_on_distributed_tables()
        _run(
            "SELECT create_distributed_table(CAST(:table AS text)::regclass, :column,"
            " colocate_with => :colocate_with)",
            table=_checked(table),
            column=DISTRIBUTION_COLUMN,
            colocate_with=COLOCATION_TABLE if table != COLOCATION_TABLE else "default",
        )


def distribute_by_key(table: str, column: str) -> None:
    """A table keyed by a value shared by no two users (e.g. a handle). No-op without Citus."""
    if citus_installed():
        _allow_triggers_on_distributed_tables()
        _run(
            "SELECT create_distributed_table(CAST(:table AS text)::regclass, :column,"
            " colocate_with => 'none')",
            table=_checked(table),
            column=_checked(column),
        )


def make_reference_table(table: str) -> None:
    """A catalog or operator table: one full copy on every node. No-op without Citus."""
    if citus_installed():
        _allow_triggers_on_distributed_tables()
        _run("SELECT create_reference_table(CAST(:table AS text)::regclass)", table=_checked(table))


def undistribute(table: str) -> None:
    """Back to a plain table on the coordinator (downgrades). No-op without Citus.

    Drop its foreign keys first and add them back after (Citus refuses otherwise).
    """
    if citus_installed():
        _allow_triggers_on_distributed_tables()
        _run(
            "SELECT undistribute_table(logicalrelid) FROM pg_dist_partition"
            " WHERE logicalrelid = to_regclass(:table)",
            table=_checked(table),
        )


def _run(sql: str, **params: str) -> None:
    """A Citus function that moves ``params["table"]``'s rows, with its row-level security lifted.

    Citus copies rows as the owner, who is subject to the table's policies (FORCE) and would
    copy none; COPY is also refused on tables with row-level security. Lifted and restored
    inside this transaction, so no other session ever sees the table without it.
    """
    table = params["table"]
    state = op.get_bind().execute(
        sa.text("SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = to_regclass(:table)"),
        {"table": table},
    )
    enabled, forced = state.one()
    if forced:
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    if enabled:
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.get_bind().execute(sa.text(sql), params)
    if enabled:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    if forced:
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def create_table(
    name: str, *elements: Any, tenancy: str, distribution_column: str | None = None, **kw: Any
) -> None:
    """Create a table and distribute it at once, then add its foreign keys (Citus needs that order).

    ``tenancy`` is ``"user"`` (distributed by user_id, co-located with users), ``"catalog"`` or
    ``"operator"`` (reference tables) or ``"handle"`` (distributed by ``distribution_column``).
    Foreign keys must be given as ``sa.ForeignKeyConstraint`` (not on a column) with a name.
    Without Citus this is ``op.create_table`` followed by the foreign keys.
    """
    foreign_keys = [item for item in elements if isinstance(item, sa.ForeignKeyConstraint)]
    rest = [item for item in elements if not isinstance(item, sa.ForeignKeyConstraint)]
    for item in rest:
        if isinstance(item, sa.Column) and item.foreign_keys:
            raise ValueError(f"{name}.{item.name}: give foreign keys as ForeignKeyConstraint")
    op.create_table(name, *rest, **kw)
    if tenancy == "user":
        distribute_by_user(name)
    elif tenancy in ("catalog", "operator"):
        make_reference_table(name)
    elif tenancy == "handle" and distribution_column:
        distribute_by_key(name, distribution_column)
    else:
        raise ValueError(f"{name}: unknown tenancy {tenancy!r}")
    for fk in foreign_keys:
        if not isinstance(fk.name, str):
            raise ValueError(f"{name}: every foreign key needs a name")
        targets = [element.target_fullname.split(".") for element in fk.elements]
        op.create_foreign_key(
            fk.name,
            name,
            targets[0][0],
            list(fk.column_keys),
            [column for _table, column in targets],
            ondelete=fk.ondelete,
        )


def audit_table(table: str, chain: str, key: tuple[str, ...]) -> None:
    """Audit a table made after revision 0005 from its first migration, into the row's user
    chain (``chain="user"``) or the operator chain ("operator"), the row named by ``key``. The
    table is new, so there is no baseline to write.

    The triggers of the newest audit revision applied: from 0015 on ``audit_<table>_insert``
    (statement level) and ``audit_<table>`` (row level, UPDATE and DELETE); before it, 0005's
    ``audit_<table>`` for every change. On Citus always the row trigger that writes the
    co-located audit shards (docs/audit.md, "Citus"); a table distributed by anything but
    ``user_id`` (like the handle tables) cannot be audited there.
    """
    table = _checked(table)
    if chain not in ("user", "operator"):
        raise ValueError(f"not an audit chain: {chain!r}")
    if len(f"audit_{table}_insert") > 63:
        raise ValueError(f"{table}: too long for its audit triggers' names")
    _allow_triggers_on_distributed_tables()
    arguments = ", ".join(f"'{_checked(name)}'" for name in (table, chain, *key))
    if citus_installed():
        statements = [
            f"CREATE TRIGGER audit_{table} AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION audit_row_citus({arguments})"
        ]
    elif _statement_audit_installed():
        statements = audit_0015.triggers(table, arguments)
    else:
        statements = audit_0015.triggers_0005(table, arguments)
    for statement in statements:
        op.execute(statement)


def _statement_audit_installed() -> bool:
    installed = op.get_bind().execute(
        sa.text("SELECT to_regprocedure(:function) IS NOT NULL"),
        {"function": f"public.{audit_0015.STATEMENT_FUNCTION}()"},
    )
    return bool(installed.scalar())


def reference_updated_at_trigger(table: str) -> None:
    """The updated_at trigger of a Citus reference table made after revision 0005: the
    distributed transaction's stamp, the same on every copy (docs/audit.md, "Citus"); on one
    server the ordinary one."""
    table = _checked(table)
    if not citus_installed():
        add_updated_at_trigger(table)
        return
    _allow_triggers_on_distributed_tables()
    op.execute(
        f"CREATE TRIGGER trg_{table}_updated_at BEFORE UPDATE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION agentkeep_set_updated_at_citus()"
    )

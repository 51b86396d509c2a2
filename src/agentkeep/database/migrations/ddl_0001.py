"""The DDL helpers exactly as revision 0001 used them, frozen with it: never edit this module.

Later revisions use migrations/ddl.py, which may change (e.g. for Citus); a landed revision must
not change with it, so 0001 keeps its own copy. Identifiers come from revision code, never from
input; each is checked before use.
"""

from __future__ import annotations

import re

from alembic import op

from agentkeep.database.roles import APP_ROLE

# Read once per query (an InitPlan), and NULL when unset, so every comparison fails closed.
ACTING_USER = "(SELECT NULLIF(current_setting('agentkeep.user_id', true), '')::uuid)"
IS_SERVICE = "(SELECT coalesce(current_setting('agentkeep.principal', true), '') = 'service')"

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _checked(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return name


def ensure_app_role() -> None:
    """Create the application role on a database agentkeep did not bootstrap itself."""
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT;
            END IF;
        END
        $$;
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")


def updated_at_trigger(table: str) -> None:
    table = _checked(table)
    op.execute(
        f"CREATE TRIGGER trg_{table}_updated_at BEFORE UPDATE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION agentkeep_set_updated_at()"
    )


def user_table_security(table: str) -> None:
    """Rows of one user: the acting user's rows only, for every role, the owner included."""
    table = _checked(table)
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY {table}_tenant ON {table} FOR ALL "
        f"USING (user_id = {ACTING_USER}) WITH CHECK (user_id = {ACTING_USER})"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")


def catalog_table_security(table: str) -> None:
    """Shared catalogs: everyone reads; only a service principal writes."""
    table = _checked(table)
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY {table}_read ON {table} FOR SELECT USING (true)")
    op.execute(f"CREATE POLICY {table}_insert ON {table} FOR INSERT WITH CHECK ({IS_SERVICE})")
    op.execute(
        f"CREATE POLICY {table}_update ON {table} FOR UPDATE USING ({IS_SERVICE}) WITH CHECK ({IS_SERVICE})"
    )
    op.execute(f"CREATE POLICY {table}_delete ON {table} FOR DELETE USING ({IS_SERVICE})")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")


def operator_table_security(table: str) -> None:
    """Operator tables: the application may read (to authenticate); only the owner writes."""
    table = _checked(table)
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY {table}_read ON {table} FOR SELECT TO {APP_ROLE} USING (true)")
    op.execute(f"GRANT SELECT ON {table} TO {APP_ROLE}")

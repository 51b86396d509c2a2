"""retention: the operator's read and delete path, and 001's cleanup_old_data()

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 14:20:00.000000

- ``agentkeep retention run`` works across all users as the schema owner acting as
  ``agentkeep.principal = 'operator'``. Revisions 0004 and 0005 gave that principal a read policy
  on every user table; this revision adds a delete policy on the four tables a retention rule may
  name today and on ``persona_activations``, which goes with its agent session.
  The application role is not in any TO list: the setting gives it nothing.
- ``devassist.cleanup_old_data()``: 001's function by its name. It cannot write archive files,
  so it deletes only what the active profile's rules let go without an archive (``then =
  'delete'`` and no ``archived`` period), never a row another row still refers to. It runs as the
  owner (SECURITY DEFINER) acting as the operator, exposing nothing but that deletion.

Table names, columns and the foreign keys that hold rows are literals here: later changes to the
schema or the profile files do not change this revision.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from agentkeep.database.migrations import ddl
from agentkeep.database.roles import APP_ROLE

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IS_OPERATOR = "coalesce(current_setting('agentkeep.principal', true), '') = 'operator'"
# Children first: a row is deleted only once nothing refers to it any more.
RETENTION_TABLES = ("messages", "conversations", "agent_sessions", "user_sessions")
# Deleted with their agent session (ON DELETE CASCADE): the owner needs to see and delete them.
DEPENDENT_TABLES = ("persona_activations",)
# (table, the rows that hold one of its rows: a NOT EXISTS over each referencing foreign key)
HOLDS = {
    "messages": "NOT EXISTS (SELECT FROM public.messages c WHERE c.user_id = t.user_id AND c.parent_message_id = t.id)",
    "conversations": "NOT EXISTS (SELECT FROM public.messages c WHERE c.user_id = t.user_id AND c.conversation_id = t.id)",
    "agent_sessions": "NOT EXISTS (SELECT FROM public.messages c WHERE c.user_id = t.user_id AND c.agent_session_id = t.id)"
    " AND NOT EXISTS (SELECT FROM public.conversations c WHERE c.user_id = t.user_id AND c.agent_session_id = t.id)",
    "user_sessions": "NOT EXISTS (SELECT FROM public.agent_sessions c WHERE c.user_id = t.user_id"
    " AND c.user_session_id = t.id)",
}
# measured_from -> column, per table ('last_activity' is each table's own activity column).
AGE_COLUMNS = {
    "messages": {"created_at": "created_at"},
    "conversations": {"created_at": "created_at", "last_activity": "updated_at"},
    "agent_sessions": {"created_at": "created_at", "completed_at": "completed_at"},
    "user_sessions": {
        "created_at": "created_at",
        "ended_at": "ended_at",
        "last_activity": "last_activity_at",
    },
}


def _cleanup_function() -> str:
    branches = []
    for table in RETENTION_TABLES:
        for measured_from, column in AGE_COLUMNS[table].items():
            status = (
                "(cardinality(v_statuses) = 0 OR t.status = ANY (v_statuses))"
                if table.endswith("_sessions")
                else "cardinality(v_statuses) = 0"
            )
            branches.append(
                f"        IF v_table = '{table}' AND v_from = '{measured_from}' THEN\n"  # noqa: S608 - constants
                f"            DELETE FROM public.{table} t WHERE t.{column} < v_cutoff AND {status}\n"
                f"                AND {HOLDS[table]};\n"
                "        END IF;"
            )
    order = ", ".join(f"('{table}', {position})" for position, table in enumerate(RETENTION_TABLES))
    body = "\n".join(branches)
    return f"""
CREATE FUNCTION devassist.cleanup_old_data() RETURNS void LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    v_rules    jsonb;
    v_rule     jsonb;
    v_table    text;
    v_from     text;
    v_cutoff   timestamptz;
    v_statuses text[];
    v_caller   text := current_setting('agentkeep.principal', true);
BEGIN
    -- The clearing triggers of revision 0002 name their tables without a schema: they need
    -- public on the path while the deletes run (the function's own names are qualified). SET
    -- LOCAL reaches Citus workers (set_config does not); the function's SET clause gives the
    -- caller's path back on exit.
    SET LOCAL search_path = pg_catalog, public;
    -- A function's own SET clause may not name a placeholder setting (PostgreSQL asks for
    -- superuser): set it here and give the caller's value back at the end.
    SET LOCAL agentkeep.principal = 'operator';
    SELECT content -> 'retention' -> 'rules' INTO v_rules FROM public.profiles WHERE is_active;
    FOR v_table IN SELECT name FROM (VALUES {order}) AS o(name, position) ORDER BY position LOOP
        v_rule := coalesce(v_rules, '{{}}') -> v_table;
        -- A rule that promises an archive is left to `agentkeep retention run`, which writes it.
        CONTINUE WHEN v_rule IS NULL OR v_rule ->> 'active' IS NULL
            OR coalesce(v_rule ->> 'then', 'delete') <> 'delete' OR v_rule ->> 'archived' IS NOT NULL;
        v_from := coalesce(v_rule ->> 'measured_from', 'created_at');
        -- The profile's periods are ISO 8601 durations, which the interval type reads as they are.
        v_cutoff := now() - (v_rule ->> 'active')::interval;
        v_statuses := ARRAY(SELECT jsonb_array_elements_text(coalesce(v_rule -> 'only_status', '[]')));
{body}
    END LOOP;
    PERFORM set_config('agentkeep.principal', coalesce(v_caller, ''), true);
END
$$"""  # noqa: S608 - this module's constants


def _one_connection_per_node_on_citus() -> None:
    # Citus creates a function only over the one connection per node a transaction has used: the
    # policy DDL before it must not open parallel ones.
    if ddl.citus_installed():
        op.execute("SET LOCAL citus.multi_shard_modify_mode = 'sequential'")


def upgrade() -> None:
    _one_connection_per_node_on_citus()
    for table in RETENTION_TABLES + DEPENDENT_TABLES:
        op.execute(
            f"CREATE POLICY {table}_operator_delete ON {table} FOR DELETE TO CURRENT_USER USING ({IS_OPERATOR})"
        )
    op.execute(_cleanup_function())
    op.execute("REVOKE ALL ON FUNCTION devassist.cleanup_old_data() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION devassist.cleanup_old_data() TO {APP_ROLE}")


def downgrade() -> None:
    _one_connection_per_node_on_citus()
    op.execute("DROP FUNCTION devassist.cleanup_old_data()")
    for table in RETENTION_TABLES + DEPENDENT_TABLES:
        op.execute(f"DROP POLICY {table}_operator_delete ON {table}")

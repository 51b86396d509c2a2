"""operators: operator keys, the operator role and its functions, public user_activity_summary

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 14:30:00.000000

- ``operator_keys``: an operator table (Citus reference table) like ``service_keys``. The
  application role reads it (to authenticate); only the owner writes it (the CLI).
- ``agentkeep_operator``: a NOLOGIN role, no BYPASSRLS, that owns the operator functions
  (SECURITY DEFINER) and nothing else. It may SELECT only the columns those functions read, and
  its read policies admit every row only while the transaction acts for the operator principal
  (``agentkeep.principal = 'operator'``). The application role is not a member of it: it only
  may EXECUTE the functions, each of which refuses to run for any other principal.
- ``operator_audit_read(user_id, what)``: every operator function calls it once per user whose
  rows it returns; it appends an ``OPERATOR_READ`` action entry to that user's chain
  (``audit_record_action`` of revision 0005, which the operator role may execute).
- ``operator_keys`` is audited into the operator chain (``audit_operator_keys``).
- ``operator_user_activity_summary(before, limit)``: seed 001's ``user_activity_summary`` for
  every user, newest user first, keyset-paginated by user id.
- ``public.user_activity_summary``: the same view as ``devassist.user_activity_summary`` over
  agentkeep's own tables, ``security_invoker``: the acting user's row only.

Role names are constants (database.roles); everything else is inlined: this revision never
changes once released.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agentkeep.database.migrations import ddl
from agentkeep.database.roles import APP_ROLE, OPERATOR_ROLE

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

creates_tables: tuple[str, ...] = ("operator_keys",)

IS_OPERATOR = "coalesce(current_setting('agentkeep.principal', true), '') = 'operator'"

# Made here when bootstrap did not (a database agentkeep did not create): needs CREATEROLE then.
ENSURE_OPERATOR_ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{OPERATOR_ROLE}') THEN
        CREATE ROLE {OPERATOR_ROLE} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT;
    END IF;
    IF NOT pg_has_role(current_user, '{OPERATOR_ROLE}', 'MEMBER') THEN
        GRANT {OPERATOR_ROLE} TO CURRENT_USER;
    END IF;
END
$$;
"""

# table -> the only columns the operator functions read (column privileges, not the whole row).
OPERATOR_COLUMNS = {
    "users": ("user_id", "username", "last_active_at", "is_active", "deleted_at"),
    "agent_sessions": ("user_id", "token_cost", "created_at"),
}

AUDIT_RECORD_ACTION = "audit_record_action(uuid, text, jsonb, text, uuid, uuid, inet, text)"

OPERATOR_AUDIT_READ = """
CREATE FUNCTION operator_audit_read(p_user_id uuid, p_what text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    -- An action entry in that user's own chain: the user can see who read their rows, and why.
    PERFORM public.audit_record_action(p_user_id, 'OPERATOR_READ', jsonb_build_object('what', p_what));
END
$$
"""

# 001:376-388 for every user. Columns and their meaning are the seed's; rows of deleted users are
# left out as in devassist.users. One audit call per user returned, before the row is returned.
OPERATOR_USER_ACTIVITY_SUMMARY = f"""
CREATE FUNCTION operator_user_activity_summary(p_before uuid DEFAULT NULL, p_limit integer DEFAULT NULL)
RETURNS TABLE (
    user_id uuid,
    username varchar(100),
    last_active_at timestamptz,
    total_sessions bigint,
    total_cost numeric,
    avg_cost_per_session numeric,
    last_session_at timestamptz
)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
#variable_conflict use_column
DECLARE
    summary record;
BEGIN
    IF NOT ({IS_OPERATOR}) THEN
        RAISE EXCEPTION 'operator_user_activity_summary() needs the operator principal'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    FOR summary IN
        SELECT
            u.user_id,
            u.username,
            u.last_active_at,
            COUNT(a.user_id) AS total_sessions,
            SUM(a.token_cost) AS total_cost,
            AVG(a.token_cost) AS avg_cost_per_session,
            MAX(a.created_at) AS last_session_at
        FROM public.users AS u
        LEFT JOIN public.agent_sessions AS a ON a.user_id = u.user_id
        WHERE u.is_active = true AND u.deleted_at IS NULL
          AND (p_before IS NULL OR u.user_id < p_before)
        GROUP BY u.user_id, u.username, u.last_active_at
        ORDER BY u.user_id DESC
        LIMIT p_limit
    LOOP
        PERFORM public.operator_audit_read(summary.user_id, 'user_activity_summary');
        user_id := summary.user_id;
        username := summary.username;
        last_active_at := summary.last_active_at;
        total_sessions := summary.total_sessions;
        total_cost := summary.total_cost;
        avg_cost_per_session := summary.avg_cost_per_session;
        last_session_at := summary.last_session_at;
        RETURN NEXT;
    END LOOP;
END
$$
"""  # noqa: S608 - IS_OPERATOR is a constant, not a value

# (signature, CREATE FUNCTION, whether the application role may EXECUTE it)
FUNCTIONS = (
    ("operator_audit_read(uuid, text)", OPERATOR_AUDIT_READ, False),
    ("operator_user_activity_summary(uuid, integer)", OPERATOR_USER_ACTIVITY_SUMMARY, True),
)

# 001:376-388 over agentkeep's tables (the seed's text itself is devassist.user_activity_summary).
USER_ACTIVITY_SUMMARY = """
CREATE VIEW public.user_activity_summary WITH (security_invoker = true) AS
SELECT
    u.user_id,
    u.username,
    u.last_active_at,
    COUNT(a.id) AS total_sessions,
    SUM(a.token_cost) AS total_cost,
    AVG(a.token_cost) AS avg_cost_per_session,
    MAX(a.created_at) AS last_session_at
FROM public.users AS u
LEFT JOIN public.agent_sessions AS a ON a.user_id = u.user_id
WHERE u.is_active = true AND u.deleted_at IS NULL
GROUP BY u.user_id, u.username, u.last_active_at
"""


def upgrade() -> None:
    op.execute(ENSURE_OPERATOR_ROLE)
    ddl.create_table(
        "operator_keys",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "octet_length(secret_hash) = 32", name=op.f("ck_operator_keys_secret_hash_sha256")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_keys")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_operator_keys_secret_hash")),
        tenancy="operator",
    )
    op.execute("ALTER TABLE operator_keys ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY operator_keys_read ON operator_keys FOR SELECT TO {APP_ROLE} USING (true)")
    op.execute(f"GRANT SELECT ON operator_keys TO {APP_ROLE}")
    ddl.reference_updated_at_trigger("operator_keys")
    ddl.audit_table("operator_keys", "operator", ("id",))
    op.execute(f"GRANT EXECUTE ON FUNCTION {AUDIT_RECORD_ACTION} TO {OPERATOR_ROLE}")

    op.execute(f"GRANT USAGE ON SCHEMA public TO {OPERATOR_ROLE}")
    for table, columns in OPERATOR_COLUMNS.items():
        op.execute(f"GRANT SELECT ({', '.join(columns)}) ON {table} TO {OPERATOR_ROLE}")
        op.execute(
            f"CREATE POLICY {table}_operator_functions ON {table} FOR SELECT TO {OPERATOR_ROLE}"
            f" USING ({IS_OPERATOR})"
        )
    # ALTER ... OWNER TO needs the new owner to hold CREATE on the schema: only for these moments.
    op.execute(f"GRANT CREATE ON SCHEMA public TO {OPERATOR_ROLE}")
    for signature, statement, app_may_execute in FUNCTIONS:
        op.execute(statement)
        op.execute(f"ALTER FUNCTION {signature} OWNER TO {OPERATOR_ROLE}")
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        if app_may_execute:
            op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")
    op.execute(f"REVOKE CREATE ON SCHEMA public FROM {OPERATOR_ROLE}")

    op.execute(USER_ACTIVITY_SUMMARY)
    op.execute(f"GRANT SELECT ON public.user_activity_summary TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP VIEW public.user_activity_summary")
    for signature, _statement, _app_may_execute in reversed(FUNCTIONS):
        op.execute(f"DROP FUNCTION {signature}")
    for table, columns in OPERATOR_COLUMNS.items():
        op.execute(f"DROP POLICY {table}_operator_functions ON {table}")
        revoke = f"REVOKE SELECT ({', '.join(columns)}) ON {table} FROM {OPERATOR_ROLE}"  # noqa: S608 - constants
        op.execute(revoke)
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {OPERATOR_ROLE}")
    op.execute(f"REVOKE EXECUTE ON FUNCTION {AUDIT_RECORD_ACTION} FROM {OPERATOR_ROLE}")
    op.drop_table("operator_keys")
    # The role stays: roles belong to the cluster, not to this database (like the application role).

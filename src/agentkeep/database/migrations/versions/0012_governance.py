"""governance: governance_events, the gates on agent sessions, active_agent_sessions

Revision ID: 0012
Revises: 0008
Create Date: 2026-11-23 18:00:00.000000

- ``governance_events`` (seed 001): a user table, PK (user_id, id), composite FK to its agent
  session ON DELETE CASCADE, in monthly partitions of its UUIDv7 id like ``messages`` (one for
  this month and the next; the server's partition pass makes the following ones). Rows are never
  changed: the application role may SELECT and INSERT only. ``framework_type`` is tied to the
  profile vocabulary ``governance_framework`` (0004's way: generated column, FK, trigger);
  ``event_type`` is 001's CHECK of eight types, which the gates below read. Audited from the
  start; the owner acting as operator reads it (profile apply, audit verify) and deletes it
  (retention: 001 keeps governance events seven years).
- The gates (docs/governance.md), triggers on ``agent_sessions`` whatever writes it:
  ``trg_agent_sessions_governance`` (BEFORE): the cost limit moves a session to ``blocked`` with
  a ``cost_validation`` event; ``running`` needs an approval event when the profile requires it
  (001's check_governance_approval) and a closed circuit breaker. ``trg_agent_sessions_failed``
  (AFTER): the circuit breaker trips. The status machine lets approved, running and paused
  sessions be blocked, and ``ck_agent_sessions_within_cost_limit`` admits a blocked session over
  its limit (the cost that passed it is kept).
- ``active_agent_sessions`` (001) in ``public`` (over agentkeep's tables) and in ``devassist``
  (the seed's text), both security_invoker; for an operator ``operator_active_agent_sessions``
  (SECURITY DEFINER, owned by ``agentkeep_operator``, audits each user it returns, like 0008).
- ``operator_emergency_stop(agent_id, reason, created_by)``: an operator blocks every live session
  of one agent across users, each with an ``emergency_stop`` event; the operator role gets UPDATE
  (status, version) on agent_sessions and INSERT on governance_events, admitted by policies only
  while the transaction acts as the operator.
- ``devassist.governance_events`` by the seed's names.

Table, column and term names are literals: later changes to the profiles do not change this revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from agentkeep.database.migrations import ddl, partitioning
from agentkeep.database.migrations import governance_sql_0012 as sql
from agentkeep.database.roles import APP_ROLE, OPERATOR_ROLE

revision: str = "0012"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

creates_tables: tuple[str, ...] = ("governance_events",)

IS_OPERATOR = "coalesce(current_setting('agentkeep.principal', true), '') = 'operator'"
# default.toml 1.0.0's frameworks (001's four), so events can be written before a profile is applied.
FRAMEWORKS = ("sarah_three_questions", "alex_3am_test", "consensus", "emergency")
EVENT_TYPES = (
    "pre_agent_spawn",
    "post_agent_spawn",
    "pre_persona_activation",
    "post_persona_activation",
    "cost_validation",
    "consensus_check",
    "emergency_stop",
    "circuit_breaker",
)
WITHIN_COST_LIMIT = "max_cost_limit IS NULL OR token_cost <= max_cost_limit"
# The columns operator_active_agent_sessions and operator_emergency_stop read and write, beyond
# those 0008 granted; and the policies that admit the operator role, as the operator only.
OPERATOR_COLUMNS = {
    "agent_sessions": ("id", "agent_type", "status", "agent_id", "version"),
    "governance_events": ("user_id", "agent_session_id", "approved"),
}
OPERATOR_UPDATES = {"agent_sessions": ("status", "version")}
OPERATOR_POLICIES = (
    ("governance_events_operator_functions", "governance_events", "SELECT", "USING"),
    ("governance_events_operator_stop", "governance_events", "INSERT", "WITH CHECK"),
    ("agent_sessions_operator_stop", "agent_sessions", "UPDATE", "USING"),
)
OPERATOR_FUNCTIONS = (
    ("operator_active_agent_sessions(uuid, integer)", sql.OPERATOR_ACTIVE_AGENT_SESSIONS),
    ("operator_emergency_stop(uuid, text, text)", sql.OPERATOR_EMERGENCY_STOP),
)
# The views this revision adds to the compatibility schemas (tests/test_compat_schemas.py reads them).
COMPAT_VIEWS = (("devassist", "governance_events"), ("devassist", "active_agent_sessions"))
GOVERNANCE_FUNCTIONS = (
    "governance_gate()",
    "governance_failure()",
    "governance_record(uuid, uuid, text, text, jsonb)",
    "governance_policy()",
    "governance_relation(regclass, uuid)",
)


def _create_table() -> None:
    ddl.create_table(
        "governance_events",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agent_session_id", sa.UUID(), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("framework_type", sa.String(50), nullable=False),
        sa.Column(
            "framework_type_vocabulary",
            sa.String(63),
            sa.Computed("'governance_framework'", persisted=True),
        ),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("validation_context", pg.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("decision_details", pg.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("fallback_triggered", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=True),
        sa.Column(
            "correlation_id",
            sa.String(128),
            server_default=sa.text(
                "NULLIF(current_setting('agentkeep.correlation_id'::text, true), ''::text)"
            ),
            nullable=True,
        ),
        sa.CheckConstraint(
            "event_type IN (" + ", ".join(f"'{t}'" for t in EVENT_TYPES) + ")",
            name=op.f("ck_governance_events_type_valid"),
        ),
        sa.CheckConstraint(
            "jsonb_typeof(validation_context) = 'object'",
            name=op.f("ck_governance_events_validation_context_object"),
        ),
        sa.CheckConstraint(
            "jsonb_typeof(decision_details) = 'object'",
            name=op.f("ck_governance_events_decision_details_object"),
        ),
        sa.PrimaryKeyConstraint("user_id", "id", name=op.f("pk_governance_events")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.user_id"], name="fk_governance_events_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id", "agent_session_id"],
            ["agent_sessions.user_id", "agent_sessions.id"],
            name="fk_governance_events_user_id_agent_session_id_agent_sessions",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["framework_type_vocabulary", "framework_type"],
            ["vocabulary_terms.vocabulary", "vocabulary_terms.term"],
            name="fk_governance_events_framework_type_terms",
            ondelete="RESTRICT",
        ),
        postgresql_partition_by="RANGE (id)",
        tenancy="user",
    )
    op.create_index(
        "ix_governance_events_session",
        "governance_events",
        ["user_id", "agent_session_id", "event_type", "approved"],
    )
    op.create_index("ix_governance_events_type", "governance_events", ["user_id", "event_type", "id"])
    op.create_index(
        "ix_governance_events_framework", "governance_events", ["framework_type", "framework_type_vocabulary"]
    )
    op.create_index("ix_governance_events_approved", "governance_events", ["approved"])
    op.create_index("ix_governance_events_created_at", "governance_events", ["created_at"])
    op.create_index("ix_governance_events_correlation_id", "governance_events", ["correlation_id"])
    op.create_index(
        "ix_governance_events_rejected",
        "governance_events",
        ["created_at", "decision_reason"],
        postgresql_where=sa.text("approved = false"),
    )


def _secure_table() -> None:
    ddl.tenant_policy("governance_events")
    # An event is never changed: a later decision is a later event.
    op.execute(f"REVOKE UPDATE, DELETE ON governance_events FROM {APP_ROLE}")
    for command, name in (("SELECT", "operator_read"), ("DELETE", "operator_delete")):
        op.execute(
            f"CREATE POLICY governance_events_{name} ON governance_events FOR {command} TO CURRENT_USER"
            f" USING ({IS_OPERATOR})"
        )
    op.execute(
        "CREATE TRIGGER trg_governance_events_framework_type_vocabulary BEFORE INSERT OR UPDATE OF framework_type"
        " ON governance_events FOR EACH ROW EXECUTE FUNCTION"
        " agentkeep_check_term('governance_events', 'framework_type', 'governance_framework')"
    )
    ddl.audit_table("governance_events", "user", ("user_id", "id"))


def _partitions() -> None:
    op.get_bind().execute(
        sa.text(
            "SELECT create_monthly_partition('governance_events', month) FROM ("
            " SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::date AS month"
            " UNION SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month')::date"
            ") AS months ORDER BY month"
        )
    )
    partitioning.name_partition_indexes("governance_events")


def _gates() -> None:
    op.execute(sql.USER_RELATION_CITUS if ddl.citus_installed() else sql.USER_RELATION_PLAIN)
    for statement in (sql.POLICY, sql.RECORD, sql.GATE, sql.FAILURE):
        op.execute(statement)
    for signature in GOVERNANCE_FUNCTIONS:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    # The SDK reads the policy the gates apply (it shows no user's rows).
    op.execute(f"GRANT EXECUTE ON FUNCTION governance_policy() TO {APP_ROLE}")
    op.execute(sql.TRANSITION)
    op.execute(
        "CREATE TRIGGER trg_agent_sessions_governance"
        " BEFORE INSERT OR UPDATE OF status, token_cost, max_cost_limit ON agent_sessions"
        " FOR EACH ROW EXECUTE FUNCTION governance_gate()"
    )
    op.execute(
        "CREATE TRIGGER trg_agent_sessions_failed AFTER UPDATE OF status ON agent_sessions FOR EACH ROW"
        " WHEN (NEW.status = 'failed' AND OLD.status IS DISTINCT FROM 'failed')"
        " EXECUTE FUNCTION governance_failure()"
    )
    op.execute("ALTER TABLE agent_sessions DROP CONSTRAINT ck_agent_sessions_within_cost_limit")
    op.execute(
        "ALTER TABLE agent_sessions ADD CONSTRAINT ck_agent_sessions_within_cost_limit"
        f" CHECK ({WITHIN_COST_LIMIT} OR status = 'blocked')"
    )
    # The circuit breaker counts a user's failed sessions of one agent type in a window.
    op.create_index(
        "ix_agent_sessions_failures",
        "agent_sessions",
        ["user_id", "agent_type", "completed_at"],
        postgresql_where=sa.text("status = 'failed'"),
    )


def _views() -> None:
    op.execute(sql.ACTIVE_AGENT_SESSIONS)
    op.execute(f"GRANT SELECT ON public.active_agent_sessions TO {APP_ROLE}")
    for view, statement in (
        ("governance_events", sql.DEVASSIST_GOVERNANCE_EVENTS),
        ("active_agent_sessions", sql.DEVASSIST_ACTIVE_AGENT_SESSIONS),
    ):
        op.execute(statement)  # schema-qualified names: no search_path needed
        op.execute(f"ALTER VIEW devassist.{view} SET (security_invoker = true)")
        op.execute(f"GRANT SELECT ON devassist.{view} TO {APP_ROLE}")


def _operator_functions() -> None:
    for table, columns in OPERATOR_COLUMNS.items():
        op.execute(f"GRANT SELECT ({', '.join(columns)}) ON {table} TO {OPERATOR_ROLE}")
    for table, columns in OPERATOR_UPDATES.items():
        op.execute(f"GRANT UPDATE ({', '.join(columns)}) ON {table} TO {OPERATOR_ROLE}")
    op.execute(f"GRANT INSERT ON governance_events TO {OPERATOR_ROLE}")
    for name, table, command, clause in OPERATOR_POLICIES:
        op.execute(
            f"CREATE POLICY {name} ON {table} FOR {command} TO {OPERATOR_ROLE} {clause} ({IS_OPERATOR})"
        )
    op.execute(f"GRANT EXECUTE ON FUNCTION governance_policy() TO {OPERATOR_ROLE}")
    op.execute(f"GRANT EXECUTE ON FUNCTION audit_new_id() TO {OPERATOR_ROLE}")  # the events' ids
    # ALTER ... OWNER TO needs the new owner to hold CREATE on the schema: only for these moments.
    op.execute(f"GRANT CREATE ON SCHEMA public TO {OPERATOR_ROLE}")
    for signature, statement in OPERATOR_FUNCTIONS:
        op.execute(statement)
        op.execute(f"ALTER FUNCTION {signature} OWNER TO {OPERATOR_ROLE}")
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")
    op.execute(f"REVOKE CREATE ON SCHEMA public FROM {OPERATOR_ROLE}")


def upgrade() -> None:
    if ddl.citus_installed():
        op.execute("SET LOCAL citus.enable_unsafe_triggers = on")
        op.execute("SET LOCAL citus.multi_shard_modify_mode = 'sequential'")
    terms = sa.table("vocabulary_terms", sa.column("vocabulary"), sa.column("term"), sa.column("position"))
    for position, term in enumerate(FRAMEWORKS):
        op.execute(
            pg.insert(terms)
            .values(vocabulary="governance_framework", term=term, position=position)
            .on_conflict_do_nothing()
        )
    _create_table()
    _secure_table()
    _partitions()
    _gates()
    _views()
    _operator_functions()


def downgrade() -> None:
    if ddl.citus_installed():
        op.execute("SET LOCAL citus.enable_unsafe_triggers = on")
        op.execute("SET LOCAL citus.multi_shard_modify_mode = 'sequential'")
    for signature, _statement in reversed(OPERATOR_FUNCTIONS):
        op.execute(f"DROP FUNCTION {signature}")
    op.execute(f"REVOKE EXECUTE ON FUNCTION audit_new_id() FROM {OPERATOR_ROLE}")
    op.execute("DROP POLICY agent_sessions_operator_stop ON agent_sessions")
    op.execute(f"REVOKE UPDATE (status, version) ON agent_sessions FROM {OPERATOR_ROLE}")
    # agent_sessions' other columns stay as 0008 granted them; governance_events goes below.
    revoke = f"REVOKE SELECT ({', '.join(OPERATOR_COLUMNS['agent_sessions'])}) ON agent_sessions FROM {OPERATOR_ROLE}"  # noqa: S608
    op.execute(revoke)
    op.execute("DROP VIEW devassist.active_agent_sessions")
    op.execute("DROP VIEW devassist.governance_events")
    op.execute("DROP VIEW public.active_agent_sessions")
    op.drop_index("ix_agent_sessions_failures", table_name="agent_sessions")
    # Sessions blocked over their limit keep the cost that passed it: the old check is NOT VALID.
    op.execute("ALTER TABLE agent_sessions DROP CONSTRAINT ck_agent_sessions_within_cost_limit")
    op.execute(
        f"ALTER TABLE agent_sessions ADD CONSTRAINT ck_agent_sessions_within_cost_limit CHECK ({WITHIN_COST_LIMIT})"
        " NOT VALID"
    )
    op.execute("DROP TRIGGER trg_agent_sessions_failed ON agent_sessions")
    op.execute("DROP TRIGGER trg_agent_sessions_governance ON agent_sessions")
    op.execute(sql.TRANSITION_BEFORE)
    op.drop_table("governance_events")
    for signature in GOVERNANCE_FUNCTIONS:
        op.execute(f"DROP FUNCTION {signature}")
    # The governance_framework terms stay: profile apply owns vocabulary_terms.

"""trust: trust metrics (002 trust_metrics), trust levels L0-L4 per (user, agent) earned from
decision outcomes, and the history of every level change

Revision ID: 0014
Revises: 0010
Create Date: 2026-11-23 18:10:00.000000

- ``trust_metrics``: a user table. ``metric_type`` is tied to the vocabulary ``trust_metric_type``
  (foreign key plus revision 0004's trigger); the seed's three types are percentages (CHECK
  0-100). Aggregate rows (retention) carry ``sample_count`` and ``is_aggregate``.
- ``agent_trust_levels``: one row per (user, agent): the level and the running aggregates the rules read
  (outcomes, approved, rejected, modified, the rejection streak, outcomes since the last
  rejection, and approvals and outcomes since the level was reached).
- ``agent_trust_changes``: every level change, from, to, rule, reason, the decision that caused it.
- Functions (trust_0014.py) and triggers: ``decisions`` AFTER INSERT OR UPDATE OF user_feedback
  applies the outcome in the same transaction; ``agent_sessions`` BEFORE INSERT OR UPDATE OF
  agent_id, trust_level takes the (user, agent) level; ``trust_demote`` is the hook for a blocked
  ethical validation; a guard keeps the application role from writing agent_trust_levels and its history.
- Row-level security, the owner's operator read policy (audit verify, profile apply), operator
  delete on trust_metrics (retention takes a session's metrics with it, and aggregates), operator
  insert on trust_metrics (the aggregate rows); updated_at and audit triggers; distributed by
  user_id on Citus.
- ``agent_sessions``: an index on (user_id, agent_id) for the level change's session update.
- View ``agentic.trust_metrics`` by the seed's names.

Names, terms and function texts are literals here: later changes do not change this revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from agentkeep.database.migrations import ddl
from agentkeep.database.migrations.trust_0014 import (
    AGENTIC_TRUST_METRICS,
    CALLABLE,
    FUNCTIONS,
    TRUST_REL_CITUS,
    TRUST_REL_PLAIN,
)
from agentkeep.database.roles import APP_ROLE

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

creates_tables: tuple[str, ...] = ("trust_metrics", "agent_trust_levels", "agent_trust_changes")

IS_OPERATOR = "coalesce(current_setting('agentkeep.principal', true), '') = 'operator'"
DEFAULT_TERMS = {"trust_metric_type": ("accuracy", "autonomy", "complexity")}
COUNTERS = (
    "outcomes",
    "approved",
    "rejected",
    "modified",
    "rejection_streak",
    "since_rejection",
    "level_outcomes",
    "level_approved",
)
AUDIT_KEYS = {
    "trust_metrics": ("user_id", "id"),
    "agent_trust_levels": ("user_id", "agent_id"),
    "agent_trust_changes": ("user_id", "id"),
}
GUARDED = ("agent_trust_levels", "agent_trust_changes")
COMPAT_VIEWS = (("agentic", "trust_metrics"),)


def _citus_settings() -> None:
    if ddl.citus_installed():
        op.execute("SET LOCAL citus.enable_unsafe_triggers = on")
        op.execute("SET LOCAL citus.multi_shard_modify_mode = 'sequential'")


def _terms() -> None:
    for vocabulary, terms in DEFAULT_TERMS.items():
        op.get_bind().execute(
            sa.text(
                "INSERT INTO vocabulary_terms (vocabulary, term, position)"
                " SELECT CAST(:vocabulary AS varchar), listed.term, listed.position - 1"
                " FROM unnest(CAST(:terms AS varchar[])) WITH ORDINALITY AS listed (term, position)"
                " WHERE NOT EXISTS (SELECT FROM vocabulary_terms AS t WHERE t.vocabulary = :vocabulary)"
            ),
            {"vocabulary": vocabulary, "terms": list(terms)},
        )


def _stamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.user_id"], name=f"fk_{table}_user_id_users", ondelete="CASCADE"
    )


def _agent_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["agent_id"], ["agents.id"], name=f"fk_{table}_agent_id_agents", ondelete="RESTRICT"
    )


def _create_trust_metrics() -> None:
    table = "trust_metrics"
    ddl.create_table(
        table,
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agent_session_id", sa.UUID(), nullable=True),
        sa.Column("agent_id", sa.UUID(), nullable=True),
        sa.Column("metric_type", sa.String(length=50), nullable=False),
        sa.Column(
            "metric_type_vocabulary",
            sa.String(63),
            sa.Computed("'trust_metric_type'", persisted=True),
            nullable=True,
        ),
        sa.Column("metric_value", sa.Numeric(5, 2), nullable=False),
        sa.Column("measurement_context", pg.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("sample_count", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("is_aggregate", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        *_stamps(),
        sa.CheckConstraint(
            "metric_type NOT IN ('accuracy', 'autonomy', 'complexity') OR metric_value BETWEEN 0 AND 100",
            name=op.f("ck_trust_metrics_metric_value_range"),
        ),
        sa.CheckConstraint("sample_count >= 1", name=op.f("ck_trust_metrics_sample_count_positive")),
        sa.CheckConstraint(
            "jsonb_typeof(measurement_context) = 'object'",
            name=op.f("ck_trust_metrics_measurement_context_object"),
        ),
        sa.PrimaryKeyConstraint("user_id", "id", name=op.f("pk_trust_metrics")),
        _user_fk(table),
        _agent_fk(table),
        sa.ForeignKeyConstraint(
            ["user_id", "agent_session_id"],
            ["agent_sessions.user_id", "agent_sessions.id"],
            name=op.f("fk_trust_metrics_user_id_agent_session_id_agent_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["metric_type_vocabulary", "metric_type"],
            ["vocabulary_terms.vocabulary", "vocabulary_terms.term"],
            name="fk_trust_metrics_metric_type_terms",
            ondelete="RESTRICT",
        ),
        tenancy="user",
    )
    op.create_index(
        "ix_trust_metrics_user_agent_type",
        table,
        ["user_id", "agent_id", "metric_type", sa.text("recorded_at DESC")],
    )
    op.create_index(
        "ix_trust_metrics_agent_session",
        table,
        ["user_id", "agent_session_id", "recorded_at"],
        postgresql_where=sa.text("agent_session_id IS NOT NULL"),
    )
    op.create_index(
        "ix_trust_metrics_raw_recorded", table, ["recorded_at"], postgresql_where=sa.text("NOT is_aggregate")
    )
    op.create_index(
        "ix_trust_metrics_agent", table, ["agent_id"], postgresql_where=sa.text("agent_id IS NOT NULL")
    )
    op.create_index("ix_trust_metrics_metric_type_terms", table, ["metric_type", "metric_type_vocabulary"])


def _create_agent_trust() -> None:
    table = "agent_trust_levels"
    ddl.create_table(
        table,
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("level", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        *(sa.Column(name, sa.BigInteger(), server_default=sa.text("0"), nullable=False) for name in COUNTERS),
        sa.Column("last_outcome_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("level_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        *_stamps(),
        sa.CheckConstraint("level BETWEEN 0 AND 4", name=op.f("ck_agent_trust_levels_level_valid")),
        sa.CheckConstraint(
            " AND ".join(f"{name} >= 0" for name in COUNTERS),
            name=op.f("ck_agent_trust_levels_counters_non_negative"),
        ),
        sa.PrimaryKeyConstraint("user_id", "agent_id", name=op.f("pk_agent_trust_levels")),
        _user_fk(table),
        _agent_fk(table),
        tenancy="user",
    )
    op.create_index("ix_agent_trust_levels_agent", table, ["agent_id"])


def _create_changes() -> None:
    table = "agent_trust_changes"
    ddl.create_table(
        table,
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("from_level", sa.SmallInteger(), nullable=False),
        sa.Column("to_level", sa.SmallInteger(), nullable=False),
        sa.Column("rule", sa.String(length=30), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decision_id", sa.UUID(), nullable=True),
        *_stamps(),
        sa.CheckConstraint(
            "from_level BETWEEN 0 AND 4 AND to_level BETWEEN 0 AND 4",
            name=op.f("ck_agent_trust_changes_levels_valid"),
        ),
        sa.CheckConstraint("from_level <> to_level", name=op.f("ck_agent_trust_changes_level_changed")),
        sa.CheckConstraint(
            "rule IN ('promotion', 'rejection_streak', 'ethical_block', 'demotion')",
            name=op.f("ck_agent_trust_changes_rule_valid"),
        ),
        sa.CheckConstraint(
            "length(reason) BETWEEN 1 AND 1000", name=op.f("ck_agent_trust_changes_reason_length")
        ),
        sa.PrimaryKeyConstraint("user_id", "id", name=op.f("pk_agent_trust_changes")),
        _user_fk(table),
        sa.ForeignKeyConstraint(
            ["user_id", "agent_id"],
            ["agent_trust_levels.user_id", "agent_trust_levels.agent_id"],
            name=op.f("fk_agent_trust_changes_user_id_agent_id_agent_trust_levels"),
            ondelete="CASCADE",
        ),
        tenancy="user",
    )
    op.create_index("ix_agent_trust_changes_user_agent", table, ["user_id", "agent_id", sa.text("id DESC")])


def _policies(table: str) -> None:
    ddl.tenant_policy(table)
    op.execute(
        f"CREATE POLICY {table}_operator_read ON {table} FOR SELECT TO CURRENT_USER USING ({IS_OPERATOR})"
    )
    if table == "trust_metrics":
        op.execute(
            f"CREATE POLICY {table}_operator_delete ON {table} FOR DELETE TO CURRENT_USER USING ({IS_OPERATOR})"
        )
        op.execute(
            f"CREATE POLICY {table}_operator_insert ON {table} FOR INSERT TO CURRENT_USER "
            f"WITH CHECK ({IS_OPERATOR})"
        )


def _functions() -> None:
    op.execute(TRUST_REL_CITUS if ddl.citus_installed() else TRUST_REL_PLAIN)
    for signature, statement in FUNCTIONS.items():
        op.execute(statement)
        if signature not in CALLABLE:
            op.execute(f"REVOKE EXECUTE ON FUNCTION {signature} FROM PUBLIC")
    op.execute("REVOKE EXECUTE ON FUNCTION trust_rel(regclass,uuid) FROM PUBLIC")


def _triggers() -> None:
    op.execute(
        "CREATE TRIGGER trg_trust_metrics_metric_type_vocabulary BEFORE INSERT OR UPDATE OF metric_type "
        "ON trust_metrics FOR EACH ROW EXECUTE FUNCTION "
        "agentkeep_check_term('trust_metrics', 'metric_type', 'trust_metric_type')"
    )
    for table in GUARDED:
        op.execute(
            f"CREATE TRIGGER trg_{table}_guard BEFORE INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION trust_guard('{table}')"
        )
    op.execute(
        "CREATE TRIGGER trg_agent_trust_changes_request BEFORE INSERT ON agent_trust_changes "
        "FOR EACH ROW EXECUTE FUNCTION trust_demotion_request()"
    )
    for table, key in AUDIT_KEYS.items():
        ddl.add_updated_at_trigger(table)
        ddl.audit_table(table, "user", key)
    op.execute(
        "CREATE TRIGGER trg_decisions_trust AFTER INSERT OR UPDATE OF user_feedback ON decisions "
        "FOR EACH ROW EXECUTE FUNCTION trust_decision_feedback()"
    )
    op.execute(
        "CREATE TRIGGER trg_agent_sessions_trust_level BEFORE INSERT OR UPDATE OF agent_id, trust_level "
        "ON agent_sessions FOR EACH ROW EXECUTE FUNCTION trust_session_level()"
    )


def upgrade() -> None:
    _citus_settings()
    _terms()
    _create_agent_trust()
    _create_changes()
    _create_trust_metrics()
    op.create_index(
        "ix_agent_sessions_user_agent",
        "agent_sessions",
        ["user_id", "agent_id"],
        postgresql_where=sa.text("agent_id IS NOT NULL"),
    )
    _functions()
    _triggers()
    for table in AUDIT_KEYS:
        _policies(table)
    op.execute(AGENTIC_TRUST_METRICS)
    op.execute(f"GRANT SELECT ON agentic.trust_metrics TO {APP_ROLE}")


def downgrade() -> None:
    _citus_settings()
    op.execute("DROP VIEW agentic.trust_metrics")
    op.execute("DROP TRIGGER trg_agent_sessions_trust_level ON agent_sessions")
    op.execute("DROP TRIGGER trg_decisions_trust ON decisions")
    op.drop_table("trust_metrics")
    op.drop_table("agent_trust_changes")
    op.drop_table("agent_trust_levels")
    for signature in (*FUNCTIONS, "trust_rel(regclass,uuid)"):
        op.execute(f"DROP FUNCTION {signature}")
    op.drop_index("ix_agent_sessions_user_agent", table_name="agent_sessions")
    # The terms stay: profile apply manages them from here on (as after revision 0004).

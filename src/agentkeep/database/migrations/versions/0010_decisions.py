"""decisions: agent decisions (000 kai_decisions, 002 agent_decisions) and Kai onboarding answers

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 17:40:00.000000

- ``decisions``: a user table. Decision type and user feedback are tied to the vocabularies
  ``decision_type`` and ``decision_feedback`` (foreign key to ``vocabulary_terms`` plus revision
  0004's trigger, whose error names the column). Each sensitive part has a plaintext column and
  an envelope column (``*_sealed``, bytea); a CHECK keeps a row from holding both.
- ``onboarding_answers``: 000 kai_sessions' typed fields, one row per agent session,
  ``processing_mode`` and ``risk_profile`` tied to their vocabularies, the legal acknowledgement
  with who and when. The onboarding answers existing Kai sessions kept in ``context`` are copied
  in (valid values only; an acknowledgement found there is dated with the session's
  ``updated_at`` and recorded as by ``service``).
- Both: row-level security, the owner's operator read and delete policies (profile apply counts
  term use, audit verify reads, retention archives and deletes), updated_at and audit triggers,
  distributed by user_id on Citus.
- Vocabulary terms: the default profile's terms of the four vocabularies, for each that has none
  yet (a database no profile was applied to since 0004).
- Views: ``kai.kai_sessions`` reads the onboarding table; ``kai.kai_decisions`` and
  ``agentic.agent_decisions`` serve the seeds' names.

Names, terms and view texts are literals here: later changes to the models or the profile files
do not change this revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from agentkeep.database.migrations import ddl
from agentkeep.database.migrations.views_0010 import (
    AGENTIC_AGENT_DECISIONS,
    COPY_ONBOARDING,
    KAI_DECISIONS,
    KAI_SESSIONS_0003,
    KAI_SESSIONS_0010,
)
from agentkeep.database.roles import APP_ROLE

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

creates_tables: tuple[str, ...] = ("decisions", "onboarding_answers")

IS_OPERATOR = "coalesce(current_setting('agentkeep.principal', true), '') = 'operator'"
# The default profile's terms (profiles/shipped/default.toml 1.0.0).
DEFAULT_TERMS = {
    "decision_type": ("buy", "hold", "reduce", "code_generation", "review", "test"),
    "decision_feedback": ("approved", "rejected", "modified"),
    "processing_mode": ("on_device", "hybrid"),
    "risk_profile": ("conservative", "balanced", "aggressive"),
}
# (table, column, vocabulary)
VOCABULARY_COLUMNS = (
    ("decisions", "decision_type", "decision_type"),
    ("decisions", "user_feedback", "decision_feedback"),
    ("onboarding_answers", "processing_mode", "processing_mode"),
    ("onboarding_answers", "risk_profile", "risk_profile"),
)
AUDIT_KEYS = {"decisions": ("user_id", "id"), "onboarding_answers": ("user_id", "agent_session_id")}
VIEWS = (("kai", "kai_decisions", KAI_DECISIONS), ("agentic", "agent_decisions", AGENTIC_AGENT_DECISIONS))


def _citus_settings() -> None:
    if ddl.citus_installed():
        op.execute("SET LOCAL citus.enable_unsafe_triggers = on")
        op.execute("SET LOCAL citus.multi_shard_modify_mode = 'sequential'")


def _terms() -> None:
    # One statement per vocabulary: NOT EXISTS sees the terms as they were before it.
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


def _vocabulary_column(table: str, column: str, vocabulary: str) -> sa.Column[str]:
    return sa.Column(
        f"{column}_vocabulary", sa.String(63), sa.Computed(f"'{vocabulary}'", persisted=True), nullable=True
    )


def _vocabulary_key(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [f"{column}_vocabulary", column],
        ["vocabulary_terms.vocabulary", "vocabulary_terms.term"],
        name=f"fk_{table}_{column}_terms",
        ondelete="RESTRICT",
    )


def _timestamps_and_version() -> list[sa.Column[object]]:
    return [
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def _create_decisions() -> None:
    ddl.create_table(
        "decisions",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agent_session_id", sa.UUID(), nullable=True),
        sa.Column("conversation_id", sa.UUID(), nullable=True),
        sa.Column("decision_type", sa.String(length=50), nullable=False),
        _vocabulary_column("decisions", "decision_type", "decision_type"),
        sa.Column("subject", sa.String(length=100), nullable=True),
        sa.Column("input_context", pg.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("action_taken", pg.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=True),
        sa.Column("rationale_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("decision_card", pg.JSONB(), nullable=True),
        sa.Column("decision_card_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("debate_transcript", sa.Text(), nullable=True),
        sa.Column("debate_transcript_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("confidence_score", sa.Numeric(3, 2), nullable=True),
        sa.Column("user_feedback", sa.String(length=20), nullable=True),
        _vocabulary_column("decisions", "user_feedback", "decision_feedback"),
        sa.Column("feedback_by", sa.String(length=20), nullable=True),
        sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("execution_time_ms", sa.Integer(), nullable=True),
        *_timestamps_and_version(),
        sa.CheckConstraint(
            "confidence_score >= 0 AND confidence_score <= 1",
            name=op.f("ck_decisions_confidence_score_range"),
        ),
        sa.CheckConstraint(
            "execution_time_ms >= 0", name=op.f("ck_decisions_execution_time_ms_non_negative")
        ),
        sa.CheckConstraint(
            "jsonb_typeof(input_context) = 'object'", name=op.f("ck_decisions_input_context_object")
        ),
        sa.CheckConstraint(
            "jsonb_typeof(action_taken) = 'object'", name=op.f("ck_decisions_action_taken_object")
        ),
        sa.CheckConstraint(
            "num_nonnulls(rationale, rationale_sealed) <= 1", name=op.f("ck_decisions_rationale_one_form")
        ),
        sa.CheckConstraint(
            "num_nonnulls(decision_card, decision_card_sealed) <= 1",
            name=op.f("ck_decisions_decision_card_one_form"),
        ),
        sa.CheckConstraint(
            "num_nonnulls(debate_transcript, debate_transcript_sealed) <= 1",
            name=op.f("ck_decisions_debate_transcript_one_form"),
        ),
        sa.CheckConstraint(
            "(user_feedback IS NULL AND feedback_by IS NULL AND feedback_at IS NULL)"
            " OR (user_feedback IS NOT NULL AND feedback_by IS NOT NULL AND feedback_at IS NOT NULL)",
            name=op.f("ck_decisions_user_feedback_recorded"),
        ),
        sa.CheckConstraint("feedback_by IN ('user', 'service')", name=op.f("ck_decisions_feedback_by_valid")),
        sa.PrimaryKeyConstraint("user_id", "id", name=op.f("pk_decisions")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.user_id"], name=op.f("fk_decisions_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id", "agent_session_id"],
            ["agent_sessions.user_id", "agent_sessions.id"],
            name=op.f("fk_decisions_user_id_agent_session_id_agent_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id", "conversation_id"],
            ["conversations.user_id", "conversations.id"],
            name=op.f("fk_decisions_user_id_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        _vocabulary_key("decisions", "decision_type"),
        _vocabulary_key("decisions", "user_feedback"),
        tenancy="user",
    )
    op.create_index("ix_decisions_user_subject", "decisions", ["user_id", "subject", sa.text("id DESC")])
    op.create_index("ix_decisions_user_type", "decisions", ["user_id", "decision_type", sa.text("id DESC")])
    op.create_index(
        "ix_decisions_agent_session",
        "decisions",
        ["user_id", "agent_session_id"],
        postgresql_where=sa.text("agent_session_id IS NOT NULL"),
    )
    op.create_index(
        "ix_decisions_conversation",
        "decisions",
        ["user_id", "conversation_id"],
        postgresql_where=sa.text("conversation_id IS NOT NULL"),
    )
    op.create_index(
        "ix_decisions_decision_type_terms", "decisions", ["decision_type", "decision_type_vocabulary"]
    )
    op.create_index(
        "ix_decisions_user_feedback_terms",
        "decisions",
        ["user_feedback", "user_feedback_vocabulary"],
        postgresql_where=sa.text("user_feedback IS NOT NULL"),
    )


def _create_onboarding() -> None:
    table = "onboarding_answers"
    ddl.create_table(
        table,
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("agent_session_id", sa.UUID(), nullable=False),
        sa.Column("processing_mode", sa.String(length=50), nullable=True),
        _vocabulary_column(table, "processing_mode", "processing_mode"),
        sa.Column("risk_profile", sa.String(length=50), nullable=True),
        _vocabulary_column(table, "risk_profile", "risk_profile"),
        sa.Column("is_legal_acknowledged", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("legal_acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("legal_acknowledged_by", sa.String(length=20), nullable=True),
        sa.Column("is_onboarding_complete", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        *_timestamps_and_version(),
        sa.CheckConstraint(
            "(NOT is_legal_acknowledged AND legal_acknowledged_at IS NULL AND legal_acknowledged_by IS NULL)"
            " OR (is_legal_acknowledged AND legal_acknowledged_at IS NOT NULL"
            " AND legal_acknowledged_by IS NOT NULL)",
            name=op.f("ck_onboarding_answers_is_legal_acknowledged_recorded"),
        ),
        sa.CheckConstraint(
            "legal_acknowledged_by IN ('user', 'service')",
            name=op.f("ck_onboarding_answers_legal_acknowledged_by_valid"),
        ),
        sa.CheckConstraint(
            "NOT is_onboarding_complete OR (is_legal_acknowledged AND processing_mode IS NOT NULL"
            " AND risk_profile IS NOT NULL)",
            name=op.f("ck_onboarding_answers_is_onboarding_complete_answered"),
        ),
        sa.PrimaryKeyConstraint("user_id", "agent_session_id", name=op.f("pk_onboarding_answers")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name=op.f("fk_onboarding_answers_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id", "agent_session_id"],
            ["agent_sessions.user_id", "agent_sessions.id"],
            name=op.f("fk_onboarding_answers_user_id_agent_session_id_agent_sessions"),
            ondelete="CASCADE",
        ),
        _vocabulary_key(table, "processing_mode"),
        _vocabulary_key(table, "risk_profile"),
        tenancy="user",
    )
    for column in ("processing_mode", "risk_profile"):
        op.create_index(
            f"ix_{table}_{column}_terms",
            table,
            [column, f"{column}_vocabulary"],
            postgresql_where=sa.text(f"{column} IS NOT NULL"),
        )


def _guard(table: str) -> None:
    """Triggers (vocabulary, updated_at, audit); the table has no rows yet."""
    for vocabulary_table, column, vocabulary in VOCABULARY_COLUMNS:
        if vocabulary_table == table:
            op.execute(
                f"CREATE TRIGGER trg_{table}_{column}_vocabulary BEFORE INSERT OR UPDATE OF {column} ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION agentkeep_check_term('{table}', '{column}', '{vocabulary}')"
            )
    ddl.add_updated_at_trigger(table)
    ddl.audit_table(table, "user", AUDIT_KEYS[table])


def _policies(table: str) -> None:
    ddl.tenant_policy(table)
    op.execute(
        f"CREATE POLICY {table}_operator_read ON {table} FOR SELECT TO CURRENT_USER USING ({IS_OPERATOR})"
    )
    op.execute(
        f"CREATE POLICY {table}_operator_delete ON {table} FOR DELETE TO CURRENT_USER USING ({IS_OPERATOR})"
    )


def upgrade() -> None:
    _citus_settings()
    _terms()
    _create_decisions()
    _create_onboarding()
    for table in AUDIT_KEYS:
        _guard(table)
    # Before row-level security is on: the owner writes every user's rows, reading the agent
    # sessions through revision 0004's operator read policy.
    op.execute("SET LOCAL agentkeep.principal = 'operator'")
    op.execute(COPY_ONBOARDING)
    op.execute("SET LOCAL agentkeep.principal = ''")
    for table in AUDIT_KEYS:
        _policies(table)
    op.execute(KAI_SESSIONS_0010)
    for schema, view, statement in VIEWS:
        op.execute(statement)
        op.execute(f"GRANT SELECT ON {schema}.{view} TO {APP_ROLE}")


def downgrade() -> None:
    _citus_settings()
    for schema, view, _statement in reversed(VIEWS):
        op.execute(f"DROP VIEW {schema}.{view}")
    op.execute(KAI_SESSIONS_0003)
    op.drop_table("onboarding_answers")
    op.drop_table("decisions")
    # The terms stay: profile apply manages them from here on (as after revision 0004).

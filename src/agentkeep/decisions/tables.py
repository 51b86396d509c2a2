"""decisions (seed 000 kai_decisions, seed 002 agent_decisions) and the onboarding answers of an
agent session (seed 000 kai_sessions' typed fields).

A decision's sensitive parts (the decision card, the debate transcript, the rationale) each have
a plaintext column and an envelope column (``*_sealed``, AES-256-GCM under the user's data key,
agentkeep.vault). The active profile's ``decisions.encrypted_fields`` says which of the two a
part is written to; a CHECK makes sure a row never holds both (docs/decisions.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from agentkeep.database.metadata import (
    USER_TABLE,
    id_column,
    jsonb,
    metadata,
    timestamps,
    user_id_column,
    version_column,
    vocabulary_column,
)
from agentkeep.vault.fields import EncryptedColumn, register

# Who recorded feedback or an acknowledgement: the user, or a backend service acting for them
# (the row's user_id is always the user; the audit trail holds the rest).
RECORDED_BY = ("user", "service")

decisions = sa.Table(
    "decisions",
    metadata,
    user_id_column(),
    id_column(),
    sa.Column("agent_session_id", pg.UUID(as_uuid=True)),
    sa.Column("conversation_id", pg.UUID(as_uuid=True)),
    sa.Column("decision_type", sa.String(50), nullable=False),
    *vocabulary_column("decisions", "decision_type", "decision_type"),
    sa.Column("subject", sa.String(100)),
    jsonb("input_context"),
    jsonb("action_taken"),
    sa.Column("rationale", sa.Text),
    sa.Column("rationale_sealed", sa.LargeBinary),
    jsonb("decision_card", default=None, nullable=True),
    sa.Column("decision_card_sealed", sa.LargeBinary),
    sa.Column("debate_transcript", sa.Text),
    sa.Column("debate_transcript_sealed", sa.LargeBinary),
    sa.Column("confidence_score", sa.Numeric(3, 2)),
    sa.Column("user_feedback", sa.String(20)),
    *vocabulary_column("decisions", "user_feedback", "decision_feedback"),
    sa.Column("feedback_by", sa.String(20)),
    sa.Column("feedback_at", sa.DateTime(timezone=True)),
    sa.Column("execution_time_ms", sa.Integer),
    version_column(),
    *timestamps(),
    # A decision is part of its session's (and conversation's) record: it goes with them.
    sa.ForeignKeyConstraint(
        ["user_id", "agent_session_id"], ["agent_sessions.user_id", "agent_sessions.id"], ondelete="CASCADE"
    ),
    sa.ForeignKeyConstraint(
        ["user_id", "conversation_id"], ["conversations.user_id", "conversations.id"], ondelete="CASCADE"
    ),
    sa.CheckConstraint("confidence_score >= 0 AND confidence_score <= 1", name="confidence_score_range"),
    sa.CheckConstraint("execution_time_ms >= 0", name="execution_time_ms_non_negative"),
    sa.CheckConstraint("jsonb_typeof(input_context) = 'object'", name="input_context_object"),
    sa.CheckConstraint("jsonb_typeof(action_taken) = 'object'", name="action_taken_object"),
    # Plaintext or envelope, never both.
    sa.CheckConstraint("num_nonnulls(rationale, rationale_sealed) <= 1", name="rationale_one_form"),
    sa.CheckConstraint(
        "num_nonnulls(decision_card, decision_card_sealed) <= 1", name="decision_card_one_form"
    ),
    sa.CheckConstraint(
        "num_nonnulls(debate_transcript, debate_transcript_sealed) <= 1", name="debate_transcript_one_form"
    ),
    # Feedback is recorded with who and when, or not at all.
    sa.CheckConstraint(
        "(user_feedback IS NULL AND feedback_by IS NULL AND feedback_at IS NULL)"
        " OR (user_feedback IS NOT NULL AND feedback_by IS NOT NULL AND feedback_at IS NOT NULL)",
        name="user_feedback_recorded",
    ),
    sa.CheckConstraint("feedback_by IN ('user', 'service')", name="feedback_by_valid"),
    # Recent first is the primary key (user_id, id) read backwards (UUIDv7 ids are time-ordered).
    sa.Index("ix_decisions_user_subject", "user_id", "subject", sa.text("id DESC")),
    sa.Index("ix_decisions_user_type", "user_id", "decision_type", sa.text("id DESC")),
    sa.Index(
        "ix_decisions_agent_session",
        "user_id",
        "agent_session_id",
        postgresql_where=sa.text("agent_session_id IS NOT NULL"),
    ),
    sa.Index(
        "ix_decisions_conversation",
        "user_id",
        "conversation_id",
        postgresql_where=sa.text("conversation_id IS NOT NULL"),
    ),
    # The vocabulary foreign keys: removing a term looks for rows that use it.
    sa.Index("ix_decisions_decision_type_terms", "decision_type", "decision_type_vocabulary"),
    sa.Index(
        "ix_decisions_user_feedback_terms",
        "user_feedback",
        "user_feedback_vocabulary",
        postgresql_where=sa.text("user_feedback IS NOT NULL"),
    ),
    info=USER_TABLE,
)

# 000 kai_sessions' typed fields: one row per agent session that has onboarding answers. A table
# of its own rather than columns of agent_sessions (docs/decisions.md, "Onboarding").
onboarding_answers = sa.Table(
    "onboarding_answers",
    metadata,
    user_id_column(),
    sa.Column("agent_session_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("processing_mode", sa.String(50)),
    *vocabulary_column("onboarding_answers", "processing_mode", "processing_mode"),
    sa.Column("risk_profile", sa.String(50)),
    *vocabulary_column("onboarding_answers", "risk_profile", "risk_profile"),
    sa.Column("is_legal_acknowledged", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("legal_acknowledged_at", sa.DateTime(timezone=True)),
    sa.Column("legal_acknowledged_by", sa.String(20)),
    sa.Column("is_onboarding_complete", sa.Boolean, nullable=False, server_default=sa.false()),
    version_column(),
    *timestamps(),
    sa.ForeignKeyConstraint(
        ["user_id", "agent_session_id"],
        ["agent_sessions.user_id", "agent_sessions.id"],
        ondelete="CASCADE",
    ),
    sa.CheckConstraint(
        "(NOT is_legal_acknowledged AND legal_acknowledged_at IS NULL AND legal_acknowledged_by IS NULL)"
        " OR (is_legal_acknowledged AND legal_acknowledged_at IS NOT NULL"
        " AND legal_acknowledged_by IS NOT NULL)",
        name="is_legal_acknowledged_recorded",
    ),
    sa.CheckConstraint("legal_acknowledged_by IN ('user', 'service')", name="legal_acknowledged_by_valid"),
    # Complete means every question was answered.
    sa.CheckConstraint(
        "NOT is_onboarding_complete OR (is_legal_acknowledged AND processing_mode IS NOT NULL"
        " AND risk_profile IS NOT NULL)",
        name="is_onboarding_complete_answered",
    ),
    sa.Index(
        "ix_onboarding_answers_processing_mode_terms",
        "processing_mode",
        "processing_mode_vocabulary",
        postgresql_where=sa.text("processing_mode IS NOT NULL"),
    ),
    sa.Index(
        "ix_onboarding_answers_risk_profile_terms",
        "risk_profile",
        "risk_profile_vocabulary",
        postgresql_where=sa.text("risk_profile IS NOT NULL"),
    ),
    info=USER_TABLE,
)

# The envelope columns, for key rotation, export and erasure (gathered in agentkeep.encrypted).
# The binding's row id is the decision's id (EncryptedColumn.row_id).
ENCRYPTED_COLUMNS = tuple(
    register(EncryptedColumn("decisions", column))
    for column in ("decision_card_sealed", "debate_transcript_sealed", "rationale_sealed")
)

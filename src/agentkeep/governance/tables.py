"""governance_events: seed 001's governance decisions, one row per event (an approval is an event).

Rows are never changed once written (no UPDATE grant, no updated_at): a decision is recorded, and
a later decision is a later event. They go with their agent session (ON DELETE CASCADE, 001).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from agentkeep.database.metadata import (
    USER_TABLE,
    id_column,
    jsonb,
    metadata,
    one_of,
    user_id_column,
    vocabulary_column,
)

# 001's eight event types: a fixed list (the gates in the database read them), like statuses.
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
# Seed 001 names these booleans without is_/has_: the seed's name wins (docs/seed-mapping.md).
SEED_NAMED = {"seed_named": "001"}

governance_events = sa.Table(
    "governance_events",
    metadata,
    user_id_column(),
    id_column(),
    sa.Column("agent_session_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("framework_type", sa.String(50), nullable=False),
    *vocabulary_column("governance_events", "framework_type", "governance_framework"),
    sa.Column("approved", sa.Boolean, nullable=False, info=SEED_NAMED),
    jsonb("validation_context"),
    jsonb("decision_details"),
    sa.Column("decision_reason", sa.Text),
    sa.Column("fallback_triggered", sa.Boolean, nullable=False, server_default=sa.false(), info=SEED_NAMED),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("created_by", sa.String(255)),
    # Text like audit_log.correlation_id: the API's X-Correlation-Id need not be a UUID.
    sa.Column(
        "correlation_id",
        sa.String(128),
        server_default=sa.text("NULLIF(current_setting('agentkeep.correlation_id'::text, true), ''::text)"),
    ),
    sa.ForeignKeyConstraint(
        ["user_id", "agent_session_id"],
        ["agent_sessions.user_id", "agent_sessions.id"],
        ondelete="CASCADE",
    ),
    one_of("event_type", EVENT_TYPES, "type_valid"),
    sa.CheckConstraint("jsonb_typeof(validation_context) = 'object'", name="validation_context_object"),
    sa.CheckConstraint("jsonb_typeof(decision_details) = 'object'", name="decision_details_object"),
    # 001's indexes; user_id leads where a user's queries use them (every key on Citus).
    sa.Index("ix_governance_events_session", "user_id", "agent_session_id", "event_type", "approved"),
    sa.Index("ix_governance_events_type", "user_id", "event_type", "id"),
    sa.Index("ix_governance_events_framework", "framework_type", "framework_type_vocabulary"),
    sa.Index("ix_governance_events_approved", "approved"),
    sa.Index("ix_governance_events_created_at", "created_at"),
    sa.Index("ix_governance_events_correlation_id", "correlation_id"),
    # 001's compliance index: rejected decisions.
    sa.Index(
        "ix_governance_events_rejected",
        "created_at",
        "decision_reason",
        postgresql_where=sa.text("approved = false"),
    ),
    # Monthly partitions by id (UUIDv7), like messages (docs/partitions.md).
    postgresql_partition_by="RANGE (id)",
    # Rows are only ever inserted (and deleted with their session, user, or by retention).
    info={**USER_TABLE, "append_only": True},
)

# The gates' refusals (migration 0012) name these as constraints of the status column (and the
# cost limit of token_cost), so the error translation names the field, on Citus too.
RULE_FIELDS = {
    "gv_agent_sessions_governance_approval": "status",
    "gv_agent_sessions_circuit_breaker": "status",
    "gv_agent_sessions_cost_limit": "token_cost",
}

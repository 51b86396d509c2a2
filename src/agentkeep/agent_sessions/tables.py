"""agent_sessions: one run of an agent for a user (seed 001 agent_sessions, seed 002 agent_sessions)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from agentkeep.database.metadata import (
    USER_TABLE,
    id_column,
    jsonb,
    metadata,
    one_of,
    timestamps,
    user_id_column,
    version_column,
    vocabulary_column,
)

AGENT_SESSION_STATUSES = (
    "initializing",
    "pending_approval",
    "approved",
    "running",
    "paused",
    "completed",
    "failed",
    "cancelled",
    "blocked",
)
ACTIVE_STATUSES = ("running", "pending_approval", "approved")
MONEY = sa.Numeric(12, 4)

agent_sessions = sa.Table(
    "agent_sessions",
    metadata,
    user_id_column(),
    id_column(),
    sa.Column("agent_id", pg.UUID(as_uuid=True), sa.ForeignKey("agents.id", ondelete="RESTRICT")),
    sa.Column("user_session_id", pg.UUID(as_uuid=True)),
    sa.Column("agent_type", sa.String(100), nullable=False),
    *vocabulary_column("agent_sessions", "agent_type", "agent_session_type"),
    jsonb("agent_config"),
    jsonb("personas_active", default="[]"),
    jsonb("governance_state"),
    jsonb("context"),
    jsonb("metadata"),
    sa.Column("status", sa.String(50), nullable=False, server_default="initializing"),
    sa.Column("trust_level", sa.SmallInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("completed_at", sa.DateTime(timezone=True)),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    jsonb("error_details", default=None, nullable=True),
    sa.Column("token_cost", MONEY, nullable=False, server_default=sa.text("0")),
    sa.Column("estimated_cost", MONEY),
    sa.Column("max_cost_limit", MONEY),
    version_column(),
    *timestamps(),
    sa.ForeignKeyConstraint(
        ["user_id", "user_session_id"],
        ["user_sessions.user_id", "user_sessions.id"],
        ondelete="RESTRICT",  # plus a trigger that clears user_session_id first (migration 0002)
    ),
    one_of("status", AGENT_SESSION_STATUSES, "status_valid"),
    sa.CheckConstraint("trust_level BETWEEN 0 AND 4", name="trust_level_valid"),
    sa.CheckConstraint(
        "token_cost >= 0 AND (estimated_cost IS NULL OR estimated_cost >= 0) "
        "AND (max_cost_limit IS NULL OR max_cost_limit >= 0)",
        name="cost_valid",
    ),
    # A blocked session keeps the cost that passed its limit (the cost gate, migration 0012).
    sa.CheckConstraint(
        "max_cost_limit IS NULL OR token_cost <= max_cost_limit OR status = 'blocked'",
        name="within_cost_limit",
    ),
    sa.CheckConstraint("jsonb_typeof(personas_active) = 'array'", name="personas_active_array"),
    sa.Index("ix_agent_sessions_user_created", "user_id", "created_at"),
    sa.Index("ix_agent_sessions_status", "status"),
    sa.Index("ix_agent_sessions_created_at", "created_at"),
    sa.Index("ix_agent_sessions_agent_type", "agent_type", "agent_type_vocabulary"),
    sa.Index("ix_agent_sessions_token_cost", "token_cost"),
    sa.Index("ix_agent_sessions_agent_created", "agent_id", "created_at"),
    sa.Index("ix_agent_sessions_user_session", "user_id", "user_session_id"),
    # The circuit breaker counts a user's failed sessions of one agent type (migration 0012).
    sa.Index(
        "ix_agent_sessions_failures",
        "user_id",
        "agent_type",
        "completed_at",
        postgresql_where=sa.text("status = 'failed'"),
    ),
    # Trust (revision 0014): a level change updates the live sessions of one (user, agent).
    sa.Index(
        "ix_agent_sessions_user_agent",
        "user_id",
        "agent_id",
        postgresql_where=sa.text("agent_id IS NOT NULL"),
    ),
    sa.Index(
        "ix_agent_sessions_active",
        "created_at",
        "status",
        postgresql_where=sa.text("status IN ('running', 'pending_approval', 'approved')"),
    ),
    info=USER_TABLE,
)

"""personas (shared catalog, seed 001) and persona_activations (per agent session, seed 001)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from agentkeep.database.metadata import (
    CATALOG_TABLE,
    USER_TABLE,
    id_column,
    jsonb,
    metadata,
    timestamps,
    user_id_column,
)

personas = sa.Table(
    "personas",
    metadata,
    id_column(),
    sa.Column("persona_name", sa.String(255), nullable=False),
    sa.Column("persona_version", sa.String(20), nullable=False),
    sa.Column("specialization", sa.String(255), nullable=False),
    jsonb("capabilities"),
    jsonb("activation_rules"),
    jsonb("crisis_scenarios"),
    jsonb("behavioral_patterns"),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("is_core", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("priority_level", sa.Integer, nullable=False, server_default=sa.text("5")),
    sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
    *timestamps(),
    sa.CheckConstraint("priority_level BETWEEN 1 AND 10", name="priority_valid"),
    sa.UniqueConstraint("persona_name", "persona_version"),
    sa.Index("ix_personas_is_active", "is_active"),
    sa.Index("ix_personas_is_core", "is_core"),
    sa.Index("ix_personas_priority_level", "priority_level"),
    sa.Index("ix_personas_specialization", "specialization"),
    info=CATALOG_TABLE,
)

persona_activations = sa.Table(
    "persona_activations",
    metadata,
    user_id_column(),
    id_column(),
    sa.Column("agent_session_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column(
        "persona_id", pg.UUID(as_uuid=True), sa.ForeignKey("personas.id", ondelete="RESTRICT"), nullable=False
    ),
    sa.Column("activation_trigger", sa.String(255), nullable=False),
    jsonb("activation_context"),
    sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("deactivated_at", sa.DateTime(timezone=True)),
    jsonb("results", default=None, nullable=True),
    *timestamps(),
    sa.ForeignKeyConstraint(
        ["user_id", "agent_session_id"],
        ["agent_sessions.user_id", "agent_sessions.id"],
        ondelete="CASCADE",
    ),
    sa.CheckConstraint("deactivated_at IS NULL OR deactivated_at >= activated_at", name="deactivated_after"),
    sa.Index("ix_persona_activations_session", "user_id", "agent_session_id", "activated_at"),
    sa.Index("ix_persona_activations_persona_id", "persona_id"),
    info=USER_TABLE,
)

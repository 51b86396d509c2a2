"""conversations (seed 004 conversations, with seed 003 ai_conversations' model, tokens and cost)."""

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
)

conversations = sa.Table(
    "conversations",
    metadata,
    user_id_column(),
    id_column(),
    sa.Column("title", sa.String(500)),
    sa.Column("agent_id", pg.UUID(as_uuid=True), sa.ForeignKey("agents.id", ondelete="RESTRICT")),
    sa.Column("agent_session_id", pg.UUID(as_uuid=True)),
    sa.Column("is_archived", sa.Boolean, nullable=False, server_default=sa.false()),
    jsonb("metadata"),
    sa.Column("model_used", sa.String(100)),
    sa.Column("tokens_used", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("cost_usd", sa.Numeric(12, 6), nullable=False, server_default=sa.text("0")),
    version_column(),
    *timestamps(),
    sa.Column("deleted_at", sa.DateTime(timezone=True)),
    sa.ForeignKeyConstraint(
        ["user_id", "agent_session_id"],
        ["agent_sessions.user_id", "agent_sessions.id"],
        ondelete="RESTRICT",  # plus a trigger that clears agent_session_id first (migration 0002)
    ),
    sa.CheckConstraint("tokens_used >= 0 AND cost_usd >= 0", name="usage_non_negative"),
    sa.CheckConstraint("jsonb_typeof(metadata) = 'object'", name="metadata_object"),
    # Keyset pagination of a user's conversations, newest first.
    sa.Index(
        "ix_conversations_user_listing",
        "user_id",
        "is_archived",
        sa.text("id DESC"),
        postgresql_where=sa.text("deleted_at IS NULL"),
    ),
    sa.Index("ix_conversations_created_at", "created_at"),
    sa.Index("ix_conversations_agent_id", "agent_id", postgresql_where=sa.text("agent_id IS NOT NULL")),
    sa.Index(
        "ix_conversations_agent_session",
        "user_id",
        "agent_session_id",
        postgresql_where=sa.text("agent_session_id IS NOT NULL"),
    ),
    sa.Index("ix_conversations_deleted_at", "deleted_at", postgresql_where=sa.text("deleted_at IS NOT NULL")),
    info=USER_TABLE,
)

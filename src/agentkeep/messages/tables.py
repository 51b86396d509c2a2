"""messages: threaded messages of a conversation (seed 002 conversation_history, seed 004 messages)."""

from __future__ import annotations

from typing import Literal, get_args

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
)

# One definition each for the CHECK constraints below and the input models' Literal types.
Role = Literal["user", "assistant", "system", "tool"]
MessageType = Literal["text", "code", "command", "file"]
ROLES: tuple[str, ...] = get_args(Role)
MESSAGE_TYPES: tuple[str, ...] = get_args(MessageType)

messages = sa.Table(
    "messages",
    metadata,
    user_id_column(),
    id_column(),
    sa.Column("conversation_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("parent_message_id", pg.UUID(as_uuid=True)),
    sa.Column("agent_session_id", pg.UUID(as_uuid=True)),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("message_type", sa.String(30), nullable=False, server_default="text"),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("agent_name", sa.String(100)),
    jsonb("reasoning_trace", default=None, nullable=True),
    jsonb("ethical_validation", default=None, nullable=True),
    jsonb("metadata"),
    sa.Column("token_count", sa.Integer),
    sa.Column("model_used", sa.String(100)),
    *timestamps(),
    sa.Column("deleted_at", sa.DateTime(timezone=True)),
    sa.ForeignKeyConstraint(
        ["user_id", "conversation_id"],
        ["conversations.user_id", "conversations.id"],
        ondelete="CASCADE",
    ),
    # A reply must belong to the same user and the same conversation as its parent.
    sa.ForeignKeyConstraint(
        ["user_id", "conversation_id", "parent_message_id"],
        ["messages.user_id", "messages.conversation_id", "messages.id"],
        ondelete="RESTRICT",  # plus a trigger that clears parent_message_id first (migration 0002)
    ),
    sa.ForeignKeyConstraint(
        ["user_id", "agent_session_id"],
        ["agent_sessions.user_id", "agent_sessions.id"],
        ondelete="RESTRICT",  # plus a trigger that clears agent_session_id first (migration 0002)
    ),
    one_of("role", ROLES, "role_valid"),
    one_of("message_type", MESSAGE_TYPES, "message_type_valid"),
    sa.CheckConstraint("token_count IS NULL OR token_count >= 0", name="token_count_non_negative"),
    sa.CheckConstraint("parent_message_id IS NULL OR parent_message_id <> id", name="not_own_parent"),
    sa.CheckConstraint("jsonb_typeof(metadata) = 'object'", name="metadata_object"),
    # Latest N of a conversation and backwards paging are one backward scan of this index (ids are
    # UUIDv7, so id order is arrival order); it is also what a reply's parent key points at.
    sa.UniqueConstraint("user_id", "conversation_id", "id", name="uq_messages_conversation_order"),
    sa.Index(
        "ix_messages_parent",
        "user_id",
        "conversation_id",
        "parent_message_id",
        postgresql_where=sa.text("parent_message_id IS NOT NULL"),
    ),
    sa.Index(
        "ix_messages_agent_session",
        "user_id",
        "agent_session_id",
        postgresql_where=sa.text("agent_session_id IS NOT NULL"),
    ),
    sa.Index("ix_messages_agent_name", "agent_name", postgresql_where=sa.text("agent_name IS NOT NULL")),
    sa.Index("ix_messages_role", "role"),
    sa.Index("ix_messages_created_at", "created_at"),
    info=USER_TABLE,
    # Monthly partitions by id (UUIDv7, so a month is a range of ids): migration 0006 and
    # docs/partitions.md. Every key above includes id, as a partitioned table requires.
    postgresql_partition_by="RANGE (id)",
)

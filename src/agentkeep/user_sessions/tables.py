"""user_sessions: login sessions (seed 001 user_sessions, 004 session_logs, 000 session_tokens).

The bearer token is never stored; only its SHA-256, so a leaked table grants nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from agentkeep.database.metadata import (
    CREDENTIAL_COLUMN,
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

SESSION_STATUSES = ("active", "ended", "expired", "revoked")

user_sessions = sa.Table(
    "user_sessions",
    metadata,
    user_id_column(),
    id_column(),
    sa.Column("token_hash", sa.LargeBinary, nullable=False, info=CREDENTIAL_COLUMN),
    sa.Column("session_type", sa.String(50), nullable=False, server_default="interactive"),
    *vocabulary_column("user_sessions", "session_type", "user_session_type"),
    jsonb("session_context"),
    sa.Column("ip_address", pg.INET),
    sa.Column("user_agent", sa.Text),
    sa.Column("status", sa.String(20), nullable=False, server_default="active"),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True)),
    version_column(),
    *timestamps(),
    one_of("status", SESSION_STATUSES, "status_valid"),
    sa.CheckConstraint("octet_length(token_hash) = 32", name="token_hash_sha256"),
    sa.CheckConstraint("expires_at > started_at", name="expires_after_start"),
    sa.CheckConstraint("(status = 'active') = (ended_at IS NULL)", name="ended_iff_not_active"),
    sa.UniqueConstraint("user_id", "token_hash"),
    sa.Index("ix_user_sessions_user_id_status", "user_id", "status"),
    sa.Index("ix_user_sessions_session_type", "session_type", "session_type_vocabulary"),
    sa.Index(
        "ix_user_sessions_active_activity", "last_activity_at", postgresql_where=sa.text("status = 'active'")
    ),
    sa.Index("ix_user_sessions_ended_at", "ended_at", postgresql_where=sa.text("ended_at IS NOT NULL")),
    info=USER_TABLE,
)

"""users: one row per person (seed 001 users, seed 004 users)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from agentkeep.database.metadata import USER_TABLE, jsonb, metadata, timestamps, version_column

EMAIL_PATTERN = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"

users = sa.Table(
    "users",
    metadata,
    sa.Column("user_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("email", sa.String(255), nullable=False),
    sa.Column("username", sa.String(100)),
    sa.Column("full_name", sa.String(255)),
    sa.Column("password_hash", sa.Text),
    sa.Column("auth_provider", sa.String(50), nullable=False, server_default="local"),
    sa.Column("auth_external_id", sa.String(255)),
    sa.Column("timezone", sa.String(50), nullable=False, server_default="UTC"),
    jsonb("preferences_json"),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("last_active_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    version_column(),
    *timestamps(),
    sa.Column("deleted_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint(f"email ~* '{EMAIL_PATTERN}'", name="email_format"),
    sa.CheckConstraint("version > 0", name="version_positive"),
    sa.Index(
        "uq_users_email",
        sa.func.lower(sa.column("email")),
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    ),
    sa.Index(
        "uq_users_username",
        sa.func.lower(sa.column("username")),
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL AND username IS NOT NULL"),
    ),
    sa.Index(
        "ix_users_active", "is_active", "last_active_at", postgresql_where=sa.text("deleted_at IS NULL")
    ),
    sa.Index("ix_users_auth_external", "auth_provider", "auth_external_id"),
    info=USER_TABLE,
)

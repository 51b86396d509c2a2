"""users: one row per person (seed 001 users, seed 004 users), and the handles that name them.

E-mail addresses and usernames are unique among live users. That uniqueness cannot live in
``users`` once it is sharded by user_id (Citus), so each handle has a table of its own, keyed by
the lower-cased handle: a taken handle is a unique violation of that primary key, under any
concurrency, and a handle finds its user in one lookup (sign-in). A user's rows there are
visible to that user only.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from agentkeep.database.metadata import (
    CREDENTIAL_COLUMN,
    USER_TABLE,
    jsonb,
    metadata,
    timestamps,
    version_column,
)

EMAIL_PATTERN = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"

users = sa.Table(
    "users",
    metadata,
    sa.Column("user_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("email", sa.String(255), nullable=False),
    sa.Column("username", sa.String(100)),
    sa.Column("full_name", sa.String(255)),
    sa.Column("password_hash", sa.Text, info=CREDENTIAL_COLUMN),
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
        "ix_users_active", "is_active", "last_active_at", postgresql_where=sa.text("deleted_at IS NULL")
    ),
    sa.Index("ix_users_auth_external", "auth_provider", "auth_external_id"),
    info=USER_TABLE,
)

# Keyed by a handle, not by user_id: distributed by the handle on Citus (docs/scale-out.md).
HANDLE_TABLE: dict[str, Any] = {"tenancy": "handle"}


def _handle_table(name: str, key: str, length: int) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column(key, sa.String(length), primary_key=True),
        sa.Column("user_id", pg.UUID(as_uuid=True), nullable=False),
        *timestamps(),
        sa.CheckConstraint(f"{key} = lower({key})", name="lower_case"),
        # A user's handles are replaced or released by user_id.
        sa.Index(f"ix_{name}_user_id", "user_id"),
        info=HANDLE_TABLE,
    )


user_emails = _handle_table("user_emails", "email", 255)
user_usernames = _handle_table("user_usernames", "username", 100)

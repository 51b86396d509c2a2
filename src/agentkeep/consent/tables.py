"""consent_tiers and consent_logs (seed 004 2.2 and 2.7; seed 000's consent_audit)."""

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
    version_column,
    vocabulary_column,
)

# Ordered: a tier reaches another when it comes at or after it here (seed 004 line 68).
Tier = Literal["passive", "suggestive", "active", "autonomous"]
TIERS: tuple[str, ...] = get_args(Tier)
ConsentAction = Literal["approved", "denied", "deferred", "tier_changed", "settings_updated"]
CONSENT_ACTIONS: tuple[str, ...] = get_args(ConsentAction)

consent_tiers = sa.Table(
    "consent_tiers",
    metadata,
    user_id_column(),
    id_column(),
    sa.Column("scope", sa.String(100), nullable=False),
    *vocabulary_column("consent_tiers", "scope", "consent_scope"),
    sa.Column("tier_level", sa.String(20), nullable=False, server_default="passive"),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    jsonb("settings_data"),
    # The reason given with the latest change: the log trigger copies it into consent_logs.
    sa.Column("change_reason", sa.Text),
    version_column(),
    *timestamps(),
    one_of("tier_level", TIERS, "tier_level_valid"),
    sa.CheckConstraint("jsonb_typeof(settings_data) = 'object'", name="settings_data_object"),
    # One active row per (user, scope), exact under any concurrency (seed 004 idx_consent_tiers_user_scope).
    sa.Index(
        "uq_consent_tiers_user_scope",
        "user_id",
        "scope",
        unique=True,
        postgresql_where=sa.text("is_active"),
    ),
    sa.Index("ix_consent_tiers_scope", "scope", "scope_vocabulary"),
    sa.Index("ix_consent_tiers_user_active", "user_id", "is_active"),
    info=USER_TABLE,
)

# Written by triggers (revision 0013) for every tier and settings change and every approval or
# denial of an agent activity; deferrals are inserted by the SDK. No foreign keys to the rows
# they record: a log outlives the activity or tier it speaks of (seed 004's ON DELETE SET NULL
# would also clear user_id, which every composite key holds).
consent_logs = sa.Table(
    "consent_logs",
    metadata,
    user_id_column(),
    id_column(),
    sa.Column("agent_activity_id", pg.UUID(as_uuid=True)),
    sa.Column("consent_tier_id", pg.UUID(as_uuid=True)),
    sa.Column("action", sa.String(30), nullable=False),
    sa.Column("scope", sa.String(100)),
    sa.Column("previous_value", sa.Text),
    sa.Column("new_value", sa.Text),
    sa.Column("reason", sa.Text),
    jsonb("metadata"),
    *timestamps(),
    one_of("action", CONSENT_ACTIONS, "action_valid"),
    sa.CheckConstraint("jsonb_typeof(metadata) = 'object'", name="metadata_object"),
    sa.Index(
        "ix_consent_logs_activity",
        "user_id",
        "agent_activity_id",
        postgresql_where=sa.text("agent_activity_id IS NOT NULL"),
    ),
    sa.Index(
        "ix_consent_logs_tier",
        "user_id",
        "consent_tier_id",
        postgresql_where=sa.text("consent_tier_id IS NOT NULL"),
    ),
    sa.Index("ix_consent_logs_action", "action"),
    sa.Index("ix_consent_logs_scope", "scope"),
    info=USER_TABLE,
)

"""agent_activities and ethical_validations (seed 004 2.6 and 2.9)."""

from __future__ import annotations

from typing import Literal, get_args

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from agentkeep.consent.tables import TIERS
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

ActivityStatus = Literal["proposed", "pending_consent", "approved", "rejected", "executed", "failed"]
ACTIVITY_STATUSES: tuple[str, ...] = get_args(ActivityStatus)
ValidationResult = Literal["passed", "flagged", "blocked", "escalated"]
VALIDATION_RESULTS: tuple[str, ...] = get_args(ValidationResult)

agent_activities = sa.Table(
    "agent_activities",
    metadata,
    user_id_column(),
    id_column(),
    sa.Column("agent_name", sa.String(100), nullable=False),
    # The session whose trust_level the activity is judged by (none, or gone: trust level 0). No
    # foreign key: retention deletes ended sessions, and the activity's history stays.
    sa.Column("agent_session_id", pg.UUID(as_uuid=True)),
    sa.Column("activity_type", sa.String(50), nullable=False),
    *vocabulary_column("agent_activities", "activity_type", "activity_type"),
    # The consent scope whose tier decides whether the activity may proceed without asking.
    sa.Column("scope", sa.String(100), nullable=False),
    *vocabulary_column("agent_activities", "scope", "consent_scope"),
    sa.Column("status", sa.String(30), nullable=False, server_default="proposed"),
    sa.Column("title", sa.String(500), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("reasoning", sa.Text),
    sa.Column("is_consent_required", sa.Boolean, nullable=False, server_default=sa.false()),
    # Filled by the insert trigger from the active profile (never below it).
    sa.Column("consent_tier_required", sa.String(20), nullable=False),
    sa.Column("trust_level_required", sa.SmallInteger, nullable=False),
    jsonb("payload", default=None, nullable=True),
    jsonb("result", default=None, nullable=True),
    # The reason given with the latest approval or denial: the log trigger copies it.
    sa.Column("consent_reason", sa.Text),
    sa.Column("executed_at", sa.DateTime(timezone=True)),
    version_column(),
    *timestamps(),
    one_of("status", ACTIVITY_STATUSES, "status_valid"),
    one_of("consent_tier_required", TIERS, "consent_tier_required_valid"),
    sa.CheckConstraint("trust_level_required BETWEEN 0 AND 4", name="trust_level_required_valid"),
    # Newest first per user: ids are UUIDv7 (seed 004 idx_agent_activities_user (user_id, created_at DESC)).
    sa.Index("ix_agent_activities_user_status", "user_id", "status", sa.text("id DESC")),
    sa.Index("ix_agent_activities_agent_name", "agent_name"),
    sa.Index("ix_agent_activities_status", "status"),
    sa.Index("ix_agent_activities_activity_type", "activity_type", "activity_type_vocabulary"),
    sa.Index("ix_agent_activities_scope", "scope", "scope_vocabulary"),
    sa.Index(
        "ix_agent_activities_consent",
        "user_id",
        "is_consent_required",
        postgresql_where=sa.text("is_consent_required"),
    ),
    sa.Index(
        "ix_agent_activities_agent_session",
        "user_id",
        "agent_session_id",
        postgresql_where=sa.text("agent_session_id IS NOT NULL"),
    ),
    info=USER_TABLE,
)

ethical_validations = sa.Table(
    "ethical_validations",
    metadata,
    user_id_column(),
    id_column(),
    sa.Column("message_id", pg.UUID(as_uuid=True)),
    sa.Column("agent_activity_id", pg.UUID(as_uuid=True)),
    sa.Column("validator", sa.String(100), nullable=False, server_default="Othello"),
    sa.Column("result", sa.String(20), nullable=False),
    sa.Column("rules_applied", pg.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
    sa.Column("concerns", pg.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
    sa.Column("reasoning", sa.Text),
    sa.Column("is_override_allowed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("is_overridden_by_user", sa.Boolean, nullable=False, server_default=sa.false()),
    jsonb("metadata"),
    version_column(),
    *timestamps(),
    sa.ForeignKeyConstraint(
        ["user_id", "message_id"],
        ["messages.user_id", "messages.id"],
        name="fk_ethical_validations_message",
        ondelete="CASCADE",
    ),
    sa.ForeignKeyConstraint(
        ["user_id", "agent_activity_id"],
        ["agent_activities.user_id", "agent_activities.id"],
        name="fk_ethical_validations_agent_activity",
        ondelete="CASCADE",
    ),
    one_of("result", VALIDATION_RESULTS, "result_valid"),
    sa.CheckConstraint("NOT is_overridden_by_user OR is_override_allowed", name="override_allowed"),
    sa.CheckConstraint("jsonb_typeof(metadata) = 'object'", name="metadata_object"),
    sa.Index(
        "ix_ethical_validations_message",
        "user_id",
        "message_id",
        postgresql_where=sa.text("message_id IS NOT NULL"),
    ),
    sa.Index(
        "ix_ethical_validations_activity",
        "user_id",
        "agent_activity_id",
        postgresql_where=sa.text("agent_activity_id IS NOT NULL"),
    ),
    sa.Index("ix_ethical_validations_result", "result"),
    sa.Index(
        "ix_ethical_validations_flagged",
        "user_id",
        "result",
        postgresql_where=sa.text("result IN ('flagged', 'blocked')"),
    ),
    info=USER_TABLE,
)

# The rules revision 0013's triggers enforce, by the name their errors give as the constraint,
# and the input field each guards (error translation reads it, agentkeep.schema).
RULE_FIELDS = {
    "agent_activities_status_transition": "status",
    "agent_activities_consent_tier": "status",
    "agent_activities_trust_level": "status",
    "agent_activities_ethics_block": "status",
    "agent_activities_terms_fixed": "activity_type",
    "consent_tiers_scope_fixed": "scope",
}

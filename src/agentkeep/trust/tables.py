"""trust_metrics (seed 002), agent_trust_levels (the level of an agent for a user, with the running
aggregates the rules read) and agent_trust_changes (every level change, with its reason).

The database keeps them: a trigger on ``decisions`` updates ``agent_trust_levels`` and records the
metrics when a decision's feedback is set, in the same transaction, whichever way the change
comes (revision 0014, docs/trust.md). Only those functions write ``agent_trust_levels`` and
``agent_trust_changes``; the application role reads them.
"""

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
    vocabulary_column,
)

LEVELS = (0, 1, 2, 3, 4)
# Why a level changed: earned (promotion), lost to a run of rejections, lost to a blocked ethical
# validation (the consent capability's hook), or lowered by hand through demote().
CHANGE_RULES = ("promotion", "rejection_streak", "ethical_block", "demotion")
# The seed's metric types are percentages (0-100); a profile's own types keep NUMERIC(5,2)'s range.
PERCENT_METRICS = ("accuracy", "autonomy", "complexity")
COUNTERS = (
    "outcomes",
    "approved",
    "rejected",
    "modified",
    "rejection_streak",
    "since_rejection",
    "level_outcomes",
    "level_approved",
)


def _counter(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger, nullable=False, server_default=sa.text("0"))


trust_metrics = sa.Table(
    "trust_metrics",
    metadata,
    user_id_column(),
    id_column(),
    sa.Column("agent_session_id", pg.UUID(as_uuid=True)),
    sa.Column("agent_id", pg.UUID(as_uuid=True), sa.ForeignKey("agents.id", ondelete="RESTRICT")),
    sa.Column("metric_type", sa.String(50), nullable=False),
    *vocabulary_column("trust_metrics", "metric_type", "trust_metric_type"),
    sa.Column("metric_value", sa.Numeric(5, 2), nullable=False),
    jsonb("measurement_context"),
    # An aggregate row stands for sample_count rows of one day (retention, docs/trust.md).
    sa.Column("sample_count", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.Column("is_aggregate", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    *timestamps(),
    # A metric measured in a session goes with it (like the session's decisions).
    sa.ForeignKeyConstraint(
        ["user_id", "agent_session_id"], ["agent_sessions.user_id", "agent_sessions.id"], ondelete="CASCADE"
    ),
    sa.CheckConstraint(
        "metric_type NOT IN ('accuracy', 'autonomy', 'complexity') OR metric_value BETWEEN 0 AND 100",
        name="metric_value_range",
    ),
    sa.CheckConstraint("sample_count >= 1", name="sample_count_positive"),
    sa.CheckConstraint("jsonb_typeof(measurement_context) = 'object'", name="measurement_context_object"),
    sa.Index(
        "ix_trust_metrics_user_agent_type", "user_id", "agent_id", "metric_type", sa.text("recorded_at DESC")
    ),
    sa.Index(
        "ix_trust_metrics_agent_session",
        "user_id",
        "agent_session_id",
        "recorded_at",
        postgresql_where=sa.text("agent_session_id IS NOT NULL"),
    ),
    # Retention's aggregation reads the raw rows older than its period, across users.
    sa.Index("ix_trust_metrics_raw_recorded", "recorded_at", postgresql_where=sa.text("NOT is_aggregate")),
    sa.Index("ix_trust_metrics_agent", "agent_id", postgresql_where=sa.text("agent_id IS NOT NULL")),
    sa.Index("ix_trust_metrics_metric_type_terms", "metric_type", "metric_type_vocabulary"),
    info=USER_TABLE,
)

agent_trust_levels = sa.Table(
    "agent_trust_levels",
    metadata,
    user_id_column(),
    sa.Column(
        "agent_id", pg.UUID(as_uuid=True), sa.ForeignKey("agents.id", ondelete="RESTRICT"), primary_key=True
    ),
    sa.Column("level", sa.SmallInteger, nullable=False, server_default=sa.text("0")),
    *(_counter(name) for name in COUNTERS),
    sa.Column("last_outcome_at", sa.DateTime(timezone=True)),
    sa.Column("level_changed_at", sa.DateTime(timezone=True)),
    version_column(),
    *timestamps(),
    sa.CheckConstraint("level BETWEEN 0 AND 4", name="level_valid"),
    sa.CheckConstraint(" AND ".join(f"{name} >= 0" for name in COUNTERS), name="counters_non_negative"),
    sa.Index("ix_agent_trust_levels_agent", "agent_id"),
    info=USER_TABLE,
)

agent_trust_changes = sa.Table(
    "agent_trust_changes",
    metadata,
    user_id_column(),
    id_column(),
    sa.Column("agent_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("from_level", sa.SmallInteger, nullable=False),
    sa.Column("to_level", sa.SmallInteger, nullable=False),
    sa.Column("rule", sa.String(30), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    # The decision whose outcome caused it; no foreign key: the history outlives the decision
    # (retention deletes decisions, never this history).
    sa.Column("decision_id", pg.UUID(as_uuid=True)),
    *timestamps(),
    sa.ForeignKeyConstraint(
        ["user_id", "agent_id"],
        ["agent_trust_levels.user_id", "agent_trust_levels.agent_id"],
        ondelete="CASCADE",
    ),
    sa.CheckConstraint("from_level BETWEEN 0 AND 4 AND to_level BETWEEN 0 AND 4", name="levels_valid"),
    sa.CheckConstraint("from_level <> to_level", name="level_changed"),
    sa.CheckConstraint(
        "rule IN ('promotion', 'rejection_streak', 'ethical_block', 'demotion')", name="rule_valid"
    ),
    sa.CheckConstraint("length(reason) BETWEEN 1 AND 1000", name="reason_length"),
    sa.Index("ix_agent_trust_changes_user_agent", "user_id", "agent_id", sa.text("id DESC")),
    info=USER_TABLE,
)

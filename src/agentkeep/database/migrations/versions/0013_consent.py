"""consent: consent tiers per scope, consent logs, agent activities, ethical validations

Revision ID: 0013
Revises: 0008
Create Date: 2026-11-23 17:30:00.000000

- ``consent_tiers`` (seed 004 2.2): one active row per (user, scope) (a partial unique index),
  tiers passive < suggestive < active < autonomous; ``scope`` is a term of ``consent_scope``.
  Every user who exists now gets the active profile's default scopes (``consent.default_scopes``
  at ``consent.default_tier``); new users get them from ``users.service.register``.
- ``consent_logs`` (seed 004 2.7, seed 000 consent_audit): written by triggers for every tier
  and settings change and every approval or denial, with the value before and after; the
  application role may add entries (deferrals, acknowledgements) but never change or delete one.
- ``agent_activities`` (seed 004 2.6): the status machine proposed → pending_consent →
  approved/rejected → executed/failed, enforced by a trigger; approval without asking only when
  the consent tier of the activity's scope and the agent session's trust level reach what the
  active profile requires (``consent.activities``); an activity blocked by an ethical
  validation cannot execute.
- ``ethical_validations`` (seed 004 2.9).
- Compatibility views: 004's four tables in ``othello``, 000's ``consent_audit`` in ``kai``.

The functions are frozen in migrations/consent_0013.py; the default scopes of users who exist
now come from the active profile's stored content (else the default profile's, frozen there).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from agentkeep.database.migrations import consent_0013 as sql
from agentkeep.database.migrations import consent_views_0013 as views
from agentkeep.database.migrations import ddl
from agentkeep.database.roles import APP_ROLE

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("consent_tiers", "consent_logs", "agent_activities", "ethical_validations")
creates_tables: tuple[str, ...] = TABLES

IS_OPERATOR = "coalesce(current_setting('agentkeep.principal', true), '') = 'operator'"
ACTIVITY_STATUSES = ("proposed", "pending_consent", "approved", "rejected", "executed", "failed")
CONSENT_ACTIONS = ("approved", "denied", "deferred", "tier_changed", "settings_updated")
VALIDATION_RESULTS = ("passed", "flagged", "blocked", "escalated")
# Frozen copies of the default profile's terms (default.toml 1.0.0), for a database where no
# profile was ever applied (a profile apply writes every vocabulary).
DEFAULT_TERMS = {
    "consent_scope": (
        "global",
        "scheduling",
        "communication",
        "health",
        "finance",
        "social",
        "goal_coaching",
        "legal",
    ),
    "activity_type": ("observation", "analysis", "suggestion", "intervention", "validation"),
}
# (table, column, vocabulary)
VOCABULARY_COLUMNS = (
    ("consent_tiers", "scope", "consent_scope"),
    ("agent_activities", "activity_type", "activity_type"),
    ("agent_activities", "scope", "consent_scope"),
)


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _timestamps() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def _uuid(name: str, *, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, pg.UUID(as_uuid=True), nullable=nullable)


def _vocabulary(table: str, column: str, vocabulary: str) -> tuple[sa.Column[Any], sa.ForeignKeyConstraint]:
    generated = sa.Column(
        f"{column}_vocabulary", sa.String(63), sa.Computed(f"'{vocabulary}'", persisted=True), nullable=True
    )
    key = sa.ForeignKeyConstraint(
        [f"{column}_vocabulary", column],
        ["vocabulary_terms.vocabulary", "vocabulary_terms.term"],
        name=f"fk_{table}_{column}_terms",
        ondelete="RESTRICT",
    )
    return generated, key


def _user_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.user_id"], name=f"fk_{table}_user_id_users", ondelete="CASCADE"
    )


def _jsonb(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    default = None if nullable else sa.text("'{}'::jsonb")
    return sa.Column(name, pg.JSONB(astext_type=sa.Text()), server_default=default, nullable=nullable)


def _version() -> sa.Column[Any]:
    return sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False)


def _create_tables() -> None:
    ddl.create_table(
        "consent_tiers",
        _uuid("user_id", nullable=False),
        _uuid("id", nullable=False),
        sa.Column("scope", sa.String(100), nullable=False),
        *_vocabulary("consent_tiers", "scope", "consent_scope"),
        sa.Column("tier_level", sa.String(20), server_default="passive", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        _jsonb("settings_data"),
        sa.Column("change_reason", sa.Text()),
        _version(),
        *_timestamps(),
        sa.CheckConstraint(_in("tier_level", sql.TIERS), name=op.f("ck_consent_tiers_tier_level_valid")),
        sa.CheckConstraint(
            "jsonb_typeof(settings_data) = 'object'", name=op.f("ck_consent_tiers_settings_data_object")
        ),
        _user_key("consent_tiers"),
        sa.PrimaryKeyConstraint("user_id", "id", name=op.f("pk_consent_tiers")),
        tenancy="user",
    )
    op.create_index(
        "uq_consent_tiers_user_scope",
        "consent_tiers",
        ["user_id", "scope"],
        unique=True,
        postgresql_where=sa.text("is_active"),
    )
    op.create_index("ix_consent_tiers_scope", "consent_tiers", ["scope", "scope_vocabulary"])
    op.create_index("ix_consent_tiers_user_active", "consent_tiers", ["user_id", "is_active"])

    ddl.create_table(
        "consent_logs",
        _uuid("user_id", nullable=False),
        _uuid("id", nullable=False),
        _uuid("agent_activity_id"),
        _uuid("consent_tier_id"),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("scope", sa.String(100)),
        sa.Column("previous_value", sa.Text()),
        sa.Column("new_value", sa.Text()),
        sa.Column("reason", sa.Text()),
        _jsonb("metadata"),
        *_timestamps(),
        sa.CheckConstraint(_in("action", CONSENT_ACTIONS), name=op.f("ck_consent_logs_action_valid")),
        sa.CheckConstraint("jsonb_typeof(metadata) = 'object'", name=op.f("ck_consent_logs_metadata_object")),
        _user_key("consent_logs"),
        sa.PrimaryKeyConstraint("user_id", "id", name=op.f("pk_consent_logs")),
        tenancy="user",
    )
    for name, column in (
        ("ix_consent_logs_activity", "agent_activity_id"),
        ("ix_consent_logs_tier", "consent_tier_id"),
    ):
        op.create_index(
            name, "consent_logs", ["user_id", column], postgresql_where=sa.text(f"{column} IS NOT NULL")
        )
    op.create_index("ix_consent_logs_action", "consent_logs", ["action"])
    op.create_index("ix_consent_logs_scope", "consent_logs", ["scope"])

    ddl.create_table(
        "agent_activities",
        _uuid("user_id", nullable=False),
        _uuid("id", nullable=False),
        sa.Column("agent_name", sa.String(100), nullable=False),
        _uuid("agent_session_id"),
        sa.Column("activity_type", sa.String(50), nullable=False),
        *_vocabulary("agent_activities", "activity_type", "activity_type"),
        sa.Column("scope", sa.String(100), nullable=False),
        *_vocabulary("agent_activities", "scope", "consent_scope"),
        sa.Column("status", sa.String(30), server_default="proposed", nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("reasoning", sa.Text()),
        sa.Column("is_consent_required", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("consent_tier_required", sa.String(20), nullable=False),
        sa.Column("trust_level_required", sa.SmallInteger(), nullable=False),
        _jsonb("payload", nullable=True),
        _jsonb("result", nullable=True),
        sa.Column("consent_reason", sa.Text()),
        sa.Column("executed_at", sa.DateTime(timezone=True)),
        _version(),
        *_timestamps(),
        sa.CheckConstraint(_in("status", ACTIVITY_STATUSES), name=op.f("ck_agent_activities_status_valid")),
        sa.CheckConstraint(
            _in("consent_tier_required", sql.TIERS),
            name=op.f("ck_agent_activities_consent_tier_required_valid"),
        ),
        sa.CheckConstraint(
            "trust_level_required BETWEEN 0 AND 4",
            name=op.f("ck_agent_activities_trust_level_required_valid"),
        ),
        _user_key("agent_activities"),
        sa.PrimaryKeyConstraint("user_id", "id", name=op.f("pk_agent_activities")),
        tenancy="user",
    )
    op.create_index(
        "ix_agent_activities_user_status", "agent_activities", ["user_id", "status", sa.text("id DESC")]
    )
    op.create_index("ix_agent_activities_agent_name", "agent_activities", ["agent_name"])
    op.create_index("ix_agent_activities_status", "agent_activities", ["status"])
    op.create_index(
        "ix_agent_activities_activity_type", "agent_activities", ["activity_type", "activity_type_vocabulary"]
    )
    op.create_index("ix_agent_activities_scope", "agent_activities", ["scope", "scope_vocabulary"])
    op.create_index(
        "ix_agent_activities_consent",
        "agent_activities",
        ["user_id", "is_consent_required"],
        postgresql_where=sa.text("is_consent_required"),
    )
    op.create_index(
        "ix_agent_activities_agent_session",
        "agent_activities",
        ["user_id", "agent_session_id"],
        postgresql_where=sa.text("agent_session_id IS NOT NULL"),
    )

    ddl.create_table(
        "ethical_validations",
        _uuid("user_id", nullable=False),
        _uuid("id", nullable=False),
        _uuid("message_id"),
        _uuid("agent_activity_id"),
        sa.Column("validator", sa.String(100), server_default="Othello", nullable=False),
        sa.Column("result", sa.String(20), nullable=False),
        sa.Column("rules_applied", pg.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("concerns", pg.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("reasoning", sa.Text()),
        sa.Column("is_override_allowed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("is_overridden_by_user", sa.Boolean(), server_default=sa.false(), nullable=False),
        _jsonb("metadata"),
        _version(),
        *_timestamps(),
        sa.CheckConstraint(
            _in("result", VALIDATION_RESULTS), name=op.f("ck_ethical_validations_result_valid")
        ),
        sa.CheckConstraint(
            "NOT is_overridden_by_user OR is_override_allowed",
            name=op.f("ck_ethical_validations_override_allowed"),
        ),
        sa.CheckConstraint(
            "jsonb_typeof(metadata) = 'object'", name=op.f("ck_ethical_validations_metadata_object")
        ),
        _user_key("ethical_validations"),
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
        sa.PrimaryKeyConstraint("user_id", "id", name=op.f("pk_ethical_validations")),
        tenancy="user",
    )
    for name, column in (
        ("ix_ethical_validations_message", "message_id"),
        ("ix_ethical_validations_activity", "agent_activity_id"),
    ):
        op.create_index(
            name,
            "ethical_validations",
            ["user_id", column],
            postgresql_where=sa.text(f"{column} IS NOT NULL"),
        )
    op.create_index("ix_ethical_validations_result", "ethical_validations", ["result"])
    op.create_index(
        "ix_ethical_validations_flagged",
        "ethical_validations",
        ["user_id", "result"],
        postgresql_where=sa.text("result IN ('flagged', 'blocked')"),
    )


def _fill_terms() -> None:
    # Only into a vocabulary no profile ever wrote (all of its terms, or none): an applied
    # profile's terms stay as they are.
    for vocabulary, terms in DEFAULT_TERMS.items():
        op.get_bind().execute(
            sa.text(
                "INSERT INTO vocabulary_terms (vocabulary, term, position)"
                " SELECT CAST(:vocabulary AS varchar), t.term, t.position - 1"
                " FROM unnest(CAST(:terms AS varchar[])) WITH ORDINALITY AS t(term, position)"
                " WHERE NOT EXISTS (SELECT FROM vocabulary_terms AS v WHERE v.vocabulary = :vocabulary)"
            ),
            {"vocabulary": vocabulary, "terms": list(terms)},
        )


def _functions() -> None:
    op.execute(sql.COLOCATED_CITUS if ddl.citus_installed() else sql.COLOCATED_PLAIN)
    for statement in sql.FUNCTIONS.values():
        op.execute(statement)
    # The log's ids are UUIDv7 from revision 0005's generator, which writes nothing.
    op.execute(f"GRANT EXECUTE ON FUNCTION audit_new_id() TO {APP_ROLE}")
    for signature in ("agentkeep_default_consent_scopes()", "agentkeep_activity_rule(text)"):
        # SECURITY DEFINER readers of the profile catalog: only what they return is exposed.
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")
    for trigger, table, timing, function in sql.TRIGGERS:
        op.execute(f"CREATE TRIGGER {trigger} {timing} ON {table} FOR EACH ROW EXECUTE FUNCTION {function}")
    for table, column, vocabulary in VOCABULARY_COLUMNS:
        op.execute(
            f"CREATE TRIGGER trg_{table}_{column}_vocabulary BEFORE INSERT OR UPDATE OF {column} ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION agentkeep_check_term('{table}', '{column}', '{vocabulary}')"
        )


def _default_scopes_for_existing_users() -> None:
    # Before row-level security is on the new tables: the owner writes every user's rows (and,
    # through the log trigger, their first consent log entries); it reads every user acting as
    # the operator (the users_operator_read policy of revision 0005).
    op.execute("SET LOCAL agentkeep.principal = 'operator'")
    op.execute(
        "INSERT INTO consent_tiers (user_id, id, scope, tier_level)"
        " SELECT u.user_id, audit_new_id(), d.scope, d.tier_level"
        " FROM users AS u CROSS JOIN agentkeep_default_consent_scopes() AS d"
        " WHERE u.deleted_at IS NULL"
    )
    op.execute("SET LOCAL agentkeep.principal = ''")


def _security() -> None:
    for table in TABLES:
        ddl.tenant_policy(table)
        op.execute(
            f"CREATE POLICY {table}_operator_read ON {table} FOR SELECT TO CURRENT_USER USING ({IS_OPERATOR})"
        )
        ddl.add_updated_at_trigger(table)
        ddl.audit_table(table, "user", ("user_id", "id"))
    # Retention archives and deletes a message's validations with it (revision 0007's path).
    op.execute(
        "CREATE POLICY ethical_validations_operator_delete ON ethical_validations FOR DELETE"
        f" TO CURRENT_USER USING ({IS_OPERATOR})"
    )
    # The log is append-only for the application: entries are added, never changed or removed.
    op.execute(f"REVOKE UPDATE, DELETE ON consent_logs FROM {APP_ROLE}")


def upgrade() -> None:
    _create_tables()
    _fill_terms()
    _functions()
    _default_scopes_for_existing_users()
    _security()
    views.create()


def downgrade() -> None:
    views.drop()
    op.execute(f"REVOKE EXECUTE ON FUNCTION audit_new_id() FROM {APP_ROLE}")
    for table in reversed(TABLES):
        op.drop_table(table)
    for signature in reversed(list(sql.FUNCTIONS)):
        op.execute(f"DROP FUNCTION {signature}")
    op.execute("DROP FUNCTION agentkeep_colocated(regclass, uuid)")
    # The vocabularies' terms stay: profile apply owns vocabulary_terms.

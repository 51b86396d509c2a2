"""foundation: users, sessions, agents, personas, conversations, messages, keys

Revision ID: 0001
Revises:
Create Date: 2026-11-23 04:31:54.382458
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from agentkeep.database.migrations import ddl_0001 as ddl

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Read by `agentkeep migrate status` and `migrate up --table`.
creates_tables: tuple[str, ...] = (
    "agents",
    "personas",
    "service_keys",
    "users",
    "api_keys",
    "user_sessions",
    "agent_sessions",
    "conversations",
    "persona_activations",
    "messages",
)
USER_TABLES = (
    "users",
    "api_keys",
    "user_sessions",
    "agent_sessions",
    "conversations",
    "persona_activations",
    "messages",
)
CATALOG_TABLES = ("agents", "personas")

SET_UPDATED_AT = """
CREATE FUNCTION agentkeep_set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
"""

# The agent session status machine (seed 001 plus 002's paused). The database is the authority;
# agentkeep.agent_sessions.status mirrors it for messages, and a test checks the two agree.
AGENT_SESSION_TRANSITIONS = """
CREATE FUNCTION agentkeep_agent_session_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        IF NOT (OLD.status, NEW.status) IN (
            ('initializing', 'pending_approval'), ('initializing', 'approved'),
            ('initializing', 'cancelled'), ('initializing', 'failed'), ('initializing', 'blocked'),
            ('pending_approval', 'approved'), ('pending_approval', 'blocked'),
            ('pending_approval', 'cancelled'), ('pending_approval', 'failed'),
            ('approved', 'running'), ('approved', 'cancelled'), ('approved', 'failed'),
            ('running', 'paused'), ('running', 'completed'), ('running', 'failed'),
            ('running', 'cancelled'),
            ('paused', 'running'), ('paused', 'completed'), ('paused', 'failed'),
            ('paused', 'cancelled')
        ) THEN
            RAISE EXCEPTION 'agent session cannot go from % to %', OLD.status, NEW.status
                USING ERRCODE = 'check_violation', CONSTRAINT = 'agent_sessions_status_transition';
        END IF;
        IF NEW.status = 'running' AND NEW.started_at IS NULL THEN
            NEW.started_at := now();
        END IF;
        IF NEW.status IN ('completed', 'failed', 'cancelled', 'blocked') THEN
            NEW.completed_at := coalesce(NEW.completed_at, now());
        END IF;
    END IF;
    RETURN NEW;
END
$$;
"""


def upgrade() -> None:
    ddl.ensure_app_role()
    op.execute(SET_UPDATED_AT)
    op.execute(AGENT_SESSION_TRANSITIONS)
    op.create_table(
        "agents",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("persona_type", sa.String(length=50), nullable=False),
        sa.Column(
            "capabilities",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "config",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("name", name=op.f("uq_agents_name")),
        info={"tenancy": "catalog"},
    )
    op.create_index(
        "ix_agents_capabilities", "agents", ["capabilities"], unique=False, postgresql_using="gin"
    )
    op.create_index("ix_agents_persona_type", "agents", ["persona_type"], unique=False)
    op.create_table(
        "personas",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("persona_name", sa.String(length=255), nullable=False),
        sa.Column("persona_version", sa.String(length=20), nullable=False),
        sa.Column("specialization", sa.String(length=255), nullable=False),
        sa.Column(
            "capabilities",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "activation_rules",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "crisis_scenarios",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "behavioral_patterns",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("is_core", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("priority_level", sa.Integer(), server_default=sa.text("5"), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("priority_level BETWEEN 1 AND 10", name=op.f("ck_personas_priority_valid")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personas")),
        sa.UniqueConstraint(
            "persona_name", "persona_version", name=op.f("uq_personas_persona_name_persona_version")
        ),
        info={"tenancy": "catalog"},
    )
    op.create_index("ix_personas_is_active", "personas", ["is_active"], unique=False)
    op.create_index("ix_personas_is_core", "personas", ["is_core"], unique=False)
    op.create_index("ix_personas_priority_level", "personas", ["priority_level"], unique=False)
    op.create_index("ix_personas_specialization", "personas", ["specialization"], unique=False)
    op.create_table(
        "service_keys",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("octet_length(secret_hash) = 32", name=op.f("ck_service_keys_secret_hash_sha256")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_keys")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_service_keys_secret_hash")),
        info={"tenancy": "operator"},
    )
    op.create_table(
        "users",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=True),
        sa.Column("full_name", sa.String(length=255), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("auth_provider", sa.String(length=50), server_default="local", nullable=False),
        sa.Column("auth_external_id", sa.String(length=255), nullable=True),
        sa.Column("timezone", sa.String(length=50), server_default="UTC", nullable=False),
        sa.Column(
            "preferences_json",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "last_active_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "email ~* '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}$'",
            name=op.f("ck_users_email_format"),
        ),
        sa.CheckConstraint("version > 0", name=op.f("ck_users_version_positive")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_users")),
        info={"tenancy": "user"},
    )
    op.create_index(
        "ix_users_active",
        "users",
        ["is_active", "last_active_at"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index("ix_users_auth_external", "users", ["auth_provider", "auth_external_id"], unique=False)
    op.create_index(
        "uq_users_email",
        "users",
        [sa.literal_column("lower(email)")],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "uq_users_username",
        "users",
        [sa.literal_column("lower(username)")],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL AND username IS NOT NULL"),
    )
    op.create_table(
        "api_keys",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("octet_length(secret_hash) = 32", name=op.f("ck_api_keys_secret_hash_sha256")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name=op.f("fk_api_keys_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("user_id", "secret_hash", name=op.f("uq_api_keys_user_id_secret_hash")),
        info={"tenancy": "user"},
    )
    op.create_table(
        "user_sessions",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("session_type", sa.String(length=50), server_default="interactive", nullable=False),
        sa.Column(
            "session_context",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("ip_address", postgresql.INET(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), server_default="active", nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "last_activity_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(status = 'active') = (ended_at IS NULL)",
            name=op.f("ck_user_sessions_ended_iff_not_active"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'ended', 'expired', 'revoked')",
            name=op.f("ck_user_sessions_status_valid"),
        ),
        sa.CheckConstraint("expires_at > started_at", name=op.f("ck_user_sessions_expires_after_start")),
        sa.CheckConstraint("octet_length(token_hash) = 32", name=op.f("ck_user_sessions_token_hash_sha256")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name=op.f("fk_user_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("user_id", "token_hash", name=op.f("uq_user_sessions_user_id_token_hash")),
        info={"tenancy": "user"},
    )
    op.create_index(
        "ix_user_sessions_active_activity",
        "user_sessions",
        ["last_activity_at"],
        unique=False,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index(
        "ix_user_sessions_ended_at",
        "user_sessions",
        ["ended_at"],
        unique=False,
        postgresql_where=sa.text("ended_at IS NOT NULL"),
    )
    op.create_index("ix_user_sessions_user_id_status", "user_sessions", ["user_id", "status"], unique=False)
    op.create_table(
        "agent_sessions",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agent_id", sa.UUID(), nullable=True),
        sa.Column("user_session_id", sa.UUID(), nullable=True),
        sa.Column("agent_type", sa.String(length=100), nullable=False),
        sa.Column(
            "agent_config",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "personas_active",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "governance_state",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "context",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=50), server_default="initializing", nullable=False),
        sa.Column("trust_level", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "token_cost",
            sa.Numeric(precision=12, scale=4),
            server_default=sa.text("0"),
            nullable=False,
        ),
        sa.Column("estimated_cost", sa.Numeric(precision=12, scale=4), nullable=True),
        sa.Column("max_cost_limit", sa.Numeric(precision=12, scale=4), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "jsonb_typeof(personas_active) = 'array'",
            name=op.f("ck_agent_sessions_personas_active_array"),
        ),
        sa.CheckConstraint(
            "status IN ('initializing', 'pending_approval', 'approved', 'running', 'paused', 'completed', 'failed', 'cancelled', 'blocked')",
            name=op.f("ck_agent_sessions_status_valid"),
        ),
        sa.CheckConstraint(
            "max_cost_limit IS NULL OR token_cost <= max_cost_limit",
            name=op.f("ck_agent_sessions_within_cost_limit"),
        ),
        sa.CheckConstraint(
            "token_cost >= 0 AND (estimated_cost IS NULL OR estimated_cost >= 0) AND (max_cost_limit IS NULL OR max_cost_limit >= 0)",
            name=op.f("ck_agent_sessions_cost_valid"),
        ),
        sa.CheckConstraint("trust_level BETWEEN 0 AND 4", name=op.f("ck_agent_sessions_trust_level_valid")),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_sessions_agent_id_agents"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id", "user_session_id"],
            ["user_sessions.user_id", "user_sessions.id"],
            name=op.f("fk_agent_sessions_user_id_user_session_id_user_sessions"),
            ondelete="SET NULL (user_session_id)",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name=op.f("fk_agent_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "id", name=op.f("pk_agent_sessions")),
        info={"tenancy": "user"},
    )
    op.create_index(
        "ix_agent_sessions_active",
        "agent_sessions",
        ["created_at", "status"],
        unique=False,
        postgresql_where=sa.text("status IN ('running', 'pending_approval', 'approved')"),
    )
    op.create_index(
        "ix_agent_sessions_agent_created",
        "agent_sessions",
        ["agent_id", "created_at"],
        unique=False,
    )
    op.create_index("ix_agent_sessions_agent_type", "agent_sessions", ["agent_type"], unique=False)
    op.create_index("ix_agent_sessions_created_at", "agent_sessions", ["created_at"], unique=False)
    op.create_index("ix_agent_sessions_status", "agent_sessions", ["status"], unique=False)
    op.create_index("ix_agent_sessions_token_cost", "agent_sessions", ["token_cost"], unique=False)
    op.create_index(
        "ix_agent_sessions_user_created", "agent_sessions", ["user_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_agent_sessions_user_session",
        "agent_sessions",
        ["user_id", "user_session_id"],
        unique=False,
    )
    op.create_table(
        "conversations",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("agent_id", sa.UUID(), nullable=True),
        sa.Column("agent_session_id", sa.UUID(), nullable=True),
        sa.Column("is_archived", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("model_used", sa.String(length=100), nullable=True),
        sa.Column("tokens_used", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "cost_usd",
            sa.Numeric(precision=12, scale=6),
            server_default=sa.text("0"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "jsonb_typeof(metadata) = 'object'", name=op.f("ck_conversations_metadata_object")
        ),
        sa.CheckConstraint(
            "tokens_used >= 0 AND cost_usd >= 0", name=op.f("ck_conversations_usage_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_conversations_agent_id_agents"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id", "agent_session_id"],
            ["agent_sessions.user_id", "agent_sessions.id"],
            name=op.f("fk_conversations_user_id_agent_session_id_agent_sessions"),
            ondelete="SET NULL (agent_session_id)",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name=op.f("fk_conversations_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "id", name=op.f("pk_conversations")),
        info={"tenancy": "user"},
    )
    op.create_index(
        "ix_conversations_agent_session",
        "conversations",
        ["user_id", "agent_session_id"],
        unique=False,
        postgresql_where=sa.text("agent_session_id IS NOT NULL"),
    )
    op.create_index("ix_conversations_created_at", "conversations", ["created_at"], unique=False)
    op.create_index(
        "ix_conversations_agent_id",
        "conversations",
        ["agent_id"],
        unique=False,
        postgresql_where=sa.text("agent_id IS NOT NULL"),
    )
    op.create_index(
        "ix_conversations_deleted_at",
        "conversations",
        ["deleted_at"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NOT NULL"),
    )
    op.create_index(
        "ix_conversations_user_listing",
        "conversations",
        ["user_id", "is_archived", sa.literal_column("id DESC")],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "persona_activations",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agent_session_id", sa.UUID(), nullable=False),
        sa.Column("persona_id", sa.UUID(), nullable=False),
        sa.Column("activation_trigger", sa.String(length=255), nullable=False),
        sa.Column(
            "activation_context",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "activated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("results", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "deactivated_at IS NULL OR deactivated_at >= activated_at",
            name=op.f("ck_persona_activations_deactivated_after"),
        ),
        sa.ForeignKeyConstraint(
            ["persona_id"],
            ["personas.id"],
            name=op.f("fk_persona_activations_persona_id_personas"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id", "agent_session_id"],
            ["agent_sessions.user_id", "agent_sessions.id"],
            name=op.f("fk_persona_activations_user_id_agent_session_id_agent_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name=op.f("fk_persona_activations_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "id", name=op.f("pk_persona_activations")),
        info={"tenancy": "user"},
    )
    op.create_index("ix_persona_activations_persona_id", "persona_activations", ["persona_id"], unique=False)
    op.create_index(
        "ix_persona_activations_session",
        "persona_activations",
        ["user_id", "agent_session_id", "activated_at"],
        unique=False,
    )
    op.create_table(
        "messages",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("conversation_id", sa.UUID(), nullable=False),
        sa.Column("parent_message_id", sa.UUID(), nullable=True),
        sa.Column("agent_session_id", sa.UUID(), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("message_type", sa.String(length=30), server_default="text", nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("agent_name", sa.String(length=100), nullable=True),
        sa.Column("reasoning_trace", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("ethical_validation", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("token_count", sa.Integer(), nullable=True),
        sa.Column("model_used", sa.String(length=100), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("jsonb_typeof(metadata) = 'object'", name=op.f("ck_messages_metadata_object")),
        sa.CheckConstraint(
            "message_type IN ('text', 'code', 'command', 'file')",
            name=op.f("ck_messages_message_type_valid"),
        ),
        sa.CheckConstraint(
            "role IN ('user', 'assistant', 'system', 'tool')", name=op.f("ck_messages_role_valid")
        ),
        sa.CheckConstraint(
            "parent_message_id IS NULL OR parent_message_id <> id", name=op.f("ck_messages_not_own_parent")
        ),
        sa.CheckConstraint(
            "token_count IS NULL OR token_count >= 0",
            name=op.f("ck_messages_token_count_non_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id", "agent_session_id"],
            ["agent_sessions.user_id", "agent_sessions.id"],
            name=op.f("fk_messages_user_id_agent_session_id_agent_sessions"),
            ondelete="SET NULL (agent_session_id)",
        ),
        sa.ForeignKeyConstraint(
            ["user_id", "conversation_id", "parent_message_id"],
            ["messages.user_id", "messages.conversation_id", "messages.id"],
            name=op.f("fk_messages_user_id_conversation_id_parent_message_id_messages"),
            ondelete="SET NULL (parent_message_id)",
        ),
        sa.ForeignKeyConstraint(
            ["user_id", "conversation_id"],
            ["conversations.user_id", "conversations.id"],
            name=op.f("fk_messages_user_id_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name=op.f("fk_messages_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "id", name=op.f("pk_messages")),
        sa.UniqueConstraint("user_id", "conversation_id", "id", name="uq_messages_conversation_order"),
        info={"tenancy": "user"},
    )
    op.create_index(
        "ix_messages_agent_name",
        "messages",
        ["agent_name"],
        unique=False,
        postgresql_where=sa.text("agent_name IS NOT NULL"),
    )
    op.create_index(
        "ix_messages_agent_session",
        "messages",
        ["user_id", "agent_session_id"],
        unique=False,
        postgresql_where=sa.text("agent_session_id IS NOT NULL"),
    )
    op.create_index("ix_messages_created_at", "messages", ["created_at"], unique=False)
    op.create_index(
        "ix_messages_parent",
        "messages",
        ["user_id", "conversation_id", "parent_message_id"],
        unique=False,
        postgresql_where=sa.text("parent_message_id IS NOT NULL"),
    )
    op.create_index("ix_messages_role", "messages", ["role"], unique=False)

    for table in creates_tables:
        ddl.updated_at_trigger(table)
    for table in USER_TABLES:
        ddl.user_table_security(table)
    for table in CATALOG_TABLES:
        ddl.catalog_table_security(table)
    ddl.operator_table_security("service_keys")
    op.execute(
        "CREATE TRIGGER trg_agent_sessions_transition BEFORE UPDATE OF status ON agent_sessions "
        "FOR EACH ROW EXECUTE FUNCTION agentkeep_agent_session_transition()"
    )


def downgrade() -> None:
    # Policies, grants and triggers go with their tables; the functions outlive them.
    op.drop_index("ix_messages_role", table_name="messages")
    op.drop_index(
        "ix_messages_parent",
        table_name="messages",
        postgresql_where=sa.text("parent_message_id IS NOT NULL"),
    )
    op.drop_index("ix_messages_created_at", table_name="messages")
    op.drop_index(
        "ix_messages_agent_session",
        table_name="messages",
        postgresql_where=sa.text("agent_session_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_messages_agent_name",
        table_name="messages",
        postgresql_where=sa.text("agent_name IS NOT NULL"),
    )
    op.drop_table("messages")
    op.drop_index("ix_persona_activations_session", table_name="persona_activations")
    op.drop_index("ix_persona_activations_persona_id", table_name="persona_activations")
    op.drop_table("persona_activations")
    op.drop_index(
        "ix_conversations_user_listing",
        table_name="conversations",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.drop_index(
        "ix_conversations_deleted_at",
        table_name="conversations",
        postgresql_where=sa.text("deleted_at IS NOT NULL"),
    )
    op.drop_index("ix_conversations_created_at", table_name="conversations")
    op.drop_index("ix_conversations_agent_id", table_name="conversations")
    op.drop_index(
        "ix_conversations_agent_session",
        table_name="conversations",
        postgresql_where=sa.text("agent_session_id IS NOT NULL"),
    )
    op.drop_table("conversations")
    op.drop_index("ix_agent_sessions_user_session", table_name="agent_sessions")
    op.drop_index("ix_agent_sessions_user_created", table_name="agent_sessions")
    op.drop_index("ix_agent_sessions_token_cost", table_name="agent_sessions")
    op.drop_index("ix_agent_sessions_status", table_name="agent_sessions")
    op.drop_index("ix_agent_sessions_created_at", table_name="agent_sessions")
    op.drop_index("ix_agent_sessions_agent_type", table_name="agent_sessions")
    op.drop_index("ix_agent_sessions_agent_created", table_name="agent_sessions")
    op.drop_index(
        "ix_agent_sessions_active",
        table_name="agent_sessions",
        postgresql_where=sa.text("status IN ('running', 'pending_approval', 'approved')"),
    )
    op.drop_table("agent_sessions")
    op.drop_index("ix_user_sessions_user_id_status", table_name="user_sessions")
    op.drop_index(
        "ix_user_sessions_ended_at",
        table_name="user_sessions",
        postgresql_where=sa.text("ended_at IS NOT NULL"),
    )
    op.drop_index(
        "ix_user_sessions_active_activity",
        table_name="user_sessions",
        postgresql_where=sa.text("status = 'active'"),
    )
    op.drop_table("user_sessions")
    op.drop_table("api_keys")
    op.drop_index(
        "uq_users_username",
        table_name="users",
        postgresql_where=sa.text("deleted_at IS NULL AND username IS NOT NULL"),
    )
    op.drop_index("uq_users_email", table_name="users", postgresql_where=sa.text("deleted_at IS NULL"))
    op.drop_index("ix_users_auth_external", table_name="users")
    op.drop_index("ix_users_active", table_name="users", postgresql_where=sa.text("deleted_at IS NULL"))
    op.drop_table("users")
    op.drop_table("service_keys")
    op.drop_index("ix_personas_specialization", table_name="personas")
    op.drop_index("ix_personas_priority_level", table_name="personas")
    op.drop_index("ix_personas_is_core", table_name="personas")
    op.drop_index("ix_personas_is_active", table_name="personas")
    op.drop_table("personas")
    op.drop_index("ix_agents_persona_type", table_name="agents")
    op.drop_index("ix_agents_capabilities", table_name="agents", postgresql_using="gin")
    op.drop_table("agents")
    op.execute("DROP FUNCTION agentkeep_agent_session_transition()")
    op.execute("DROP FUNCTION agentkeep_set_updated_at()")

"""vault: vault_keys, vault_master_keys, provider_api_keys

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 17:30:00.000000

- ``vault_keys`` (seed 000): each user's data keys (AES-256), only ever stored wrapped by the
  master key; PK (user_id, version), at most one ``active`` per user. A user table: tenant
  policy, the operator read policy (audit verify), and an update policy for the owner acting as
  the operator, which ``agentkeep keys rotate-master`` re-wraps every user's keys through.
  Audited into each user's chain (the audit entries hold the wrapped key, wrapped).
- ``vault_master_keys``: the master key versions, each with a check value (a known value it
  wrapped) so a wrong master key is refused at start before any data key is used. An operator
  table: the application role reads it, only the owner writes it. Audited into the operator chain.
- ``provider_api_keys`` (seed 003 ``user_ai_settings.encrypted_api_keys``): one row per user and
  AI provider (vocabulary ``ai_provider``), the key sealed by the vault, its last 4 characters for
  display.
- Compatibility views ``kai.vault_keys`` (no key material) and ``vromm.encrypted_api_keys`` (the
  seed's JSON object provider -> "enc_" + base64 of the envelope).

Everything is inlined here: this revision never changes once released.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from agentkeep.database.migrations import ddl
from agentkeep.database.roles import APP_ROLE

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

creates_tables: tuple[str, ...] = ("vault_keys", "vault_master_keys", "provider_api_keys")

IS_OPERATOR = "coalesce(current_setting('agentkeep.principal', true), '') = 'operator'"
USER_TABLES = ("vault_keys", "provider_api_keys")
# The default profile's ai_providers (profiles/shipped/default.toml), so provider keys can be
# stored before any profile is applied (as revision 0004 did for its vocabularies).
AI_PROVIDERS = ("openai", "anthropic", "google")
ADD_TERMS = """
INSERT INTO vocabulary_terms (vocabulary, term, position)
SELECT 'ai_provider', term, position - 1 FROM unnest(CAST(:terms AS text[])) WITH ORDINALITY AS t(term, position)
ON CONFLICT (vocabulary, term) DO NOTHING
"""

KAI_VAULT_KEYS = """
CREATE VIEW kai.vault_keys WITH (security_invoker = true) AS
SELECT
    k.user_id,
    k.version        AS key_version,
    'aes-256-gcm'::text AS algorithm,
    k.state,
    k.created_at,
    k.updated_at
FROM public.vault_keys AS k
"""

VROMM_ENCRYPTED_API_KEYS = """
CREATE VIEW vromm.encrypted_api_keys WITH (security_invoker = true) AS
SELECT
    p.user_id,
    jsonb_object_agg(p.provider, 'enc_' || translate(encode(p.encrypted_key, 'base64'), E'\\n', ''))
        AS encrypted_api_keys
FROM public.provider_api_keys AS p
GROUP BY p.user_id
"""

VIEW_STATEMENTS = {
    ("kai", "vault_keys"): KAI_VAULT_KEYS,
    ("vromm", "encrypted_api_keys"): VROMM_ENCRYPTED_API_KEYS,
}
COMPAT_VIEWS = tuple(VIEW_STATEMENTS)


def _timestamps() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def upgrade() -> None:
    ddl.create_table(
        "vault_master_keys",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=200), nullable=False),
        sa.Column("check_value", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(length=20), server_default=sa.text("'active'"), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("state IN ('active', 'retired')", name=op.f("ck_vault_master_keys_state_valid")),
        sa.CheckConstraint("version > 0", name=op.f("ck_vault_master_keys_version_positive")),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_vault_master_keys")),
        tenancy="operator",
    )
    op.create_index(
        "uq_vault_master_keys_active",
        "vault_master_keys",
        ["state"],
        unique=True,
        postgresql_where=sa.text("state = 'active'"),
    )
    op.execute("ALTER TABLE vault_master_keys ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY vault_master_keys_read ON vault_master_keys FOR SELECT TO {APP_ROLE} USING (true)"
    )
    op.execute(f"GRANT SELECT ON vault_master_keys TO {APP_ROLE}")
    ddl.reference_updated_at_trigger("vault_master_keys")
    ddl.audit_table("vault_master_keys", "operator", ("version",))

    ddl.create_table(
        "vault_keys",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("master_key_id", sa.String(length=200), nullable=False),
        sa.Column("master_version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), server_default=sa.text("'active'"), nullable=False),
        *_timestamps(),
        sa.CheckConstraint(
            "state IN ('active', 'rotating', 'retired', 'destroyed')", name=op.f("ck_vault_keys_state_valid")
        ),
        sa.CheckConstraint(
            "version > 0 AND master_version > 0", name=op.f("ck_vault_keys_versions_positive")
        ),
        sa.CheckConstraint(
            "(state = 'destroyed') = (wrapped_key IS NULL)", name=op.f("ck_vault_keys_destroyed_has_no_key")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.user_id"], name=op.f("fk_vault_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "version", name=op.f("pk_vault_keys")),
        tenancy="user",
    )
    op.create_index(
        "uq_vault_keys_active",
        "vault_keys",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text("state = 'active'"),
    )

    ddl.create_table(
        "provider_api_keys",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("provider", sa.String(length=50), nullable=False),
        sa.Column(
            "provider_vocabulary",
            sa.String(length=63),
            sa.Computed("'ai_provider'", persisted=True),
            nullable=True,
        ),
        sa.Column("encrypted_key", sa.LargeBinary(), nullable=False),
        sa.Column("key_last4", sa.String(length=4), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name=op.f("fk_provider_api_keys_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["provider_vocabulary", "provider"],
            ["vocabulary_terms.vocabulary", "vocabulary_terms.term"],
            name="fk_provider_api_keys_provider_terms",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("user_id", "provider", name=op.f("pk_provider_api_keys")),
        tenancy="user",
    )
    # Covers the vocabulary foreign key (a term's removal looks for rows using it).
    op.create_index("ix_provider_api_keys_provider", "provider_api_keys", ["provider", "provider_vocabulary"])

    for table in USER_TABLES:
        ddl.tenant_policy(table)
        op.execute(
            f"CREATE POLICY {table}_operator_read ON {table} FOR SELECT TO CURRENT_USER USING ({IS_OPERATOR})"
        )
        ddl.add_updated_at_trigger(table)
    op.get_bind().execute(sa.text(ADD_TERMS), {"terms": list(AI_PROVIDERS)})
    # The vocabulary check of revision 0004 (its error names the column and the terms).
    op.execute(
        "CREATE TRIGGER trg_provider_api_keys_provider_vocabulary BEFORE INSERT OR UPDATE OF provider"
        " ON provider_api_keys FOR EACH ROW"
        " EXECUTE FUNCTION agentkeep_check_term('provider_api_keys', 'provider', 'ai_provider')"
    )
    op.execute(
        "CREATE POLICY vault_keys_operator_rewrap ON vault_keys FOR UPDATE TO CURRENT_USER"
        f" USING ({IS_OPERATOR}) WITH CHECK ({IS_OPERATOR})"
    )
    ddl.audit_table("vault_keys", "user", ("user_id", "version"))
    ddl.audit_table("provider_api_keys", "user", ("user_id", "provider"))

    for (schema, view), statement in VIEW_STATEMENTS.items():
        op.execute(statement)
        op.execute(f"GRANT SELECT ON {schema}.{view} TO {APP_ROLE}")


def downgrade() -> None:
    for schema, view in reversed(COMPAT_VIEWS):
        op.execute(f"DROP VIEW {schema}.{view}")
    op.drop_table("provider_api_keys")
    op.drop_table("vault_keys")
    op.drop_table("vault_master_keys")

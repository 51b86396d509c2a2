"""profiles: the profile catalog, and vocabularies the database enforces

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 13:00:00.000000

- ``profiles`` (the applied profiles, at most one active) and ``vocabulary_terms`` (the active
  profile's terms): operator tables, Citus reference tables. The application role reads them;
  only the owner writes them (``agentkeep profile apply``).
- Three free-text columns are tied to a vocabulary: ``agent_sessions.agent_type``
  (``agent_session_type``), ``agents.persona_type`` (``agent_type``) and
  ``user_sessions.session_type`` (``user_session_type``). Each gets a stored generated column
  holding the vocabulary's name and a foreign key (that column, the term) to
  ``vocabulary_terms``, so a term a row uses cannot be deleted; and a BEFORE trigger whose
  error (23514) names the column and the term. PostgreSQL leaves the key out of a foreign-key
  error when the referencing table has row-level security, so the key alone cannot say it.
  Adding a stored column rewrites these three tables (ACCESS EXCLUSIVE, short while they are small).
- ``agent_sessions`` and ``user_sessions`` get a read policy for the owner acting as
  ``agentkeep.principal = 'operator'``, so ``profile apply`` can count the rows that use a term
  it would remove. The application role is not in its TO list, so the setting gives it nothing.
- The terms: a frozen copy of the default profile's terms for the three vocabularies, plus every
  value already stored, so the keys hold over existing rows (``profile apply`` then refuses to
  remove a term still in use, naming the rows).

Vocabulary names and terms are literals here: later changes to the profile files do not change
this revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from agentkeep.database.migrations import ddl
from agentkeep.database.roles import APP_ROLE

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

creates_tables: tuple[str, ...] = ("profiles", "vocabulary_terms")

# (table, column, vocabulary, the index that covers the foreign key, the index it replaces)
VOCABULARY_COLUMNS = (
    ("agent_sessions", "agent_type", "agent_session_type", "ix_agent_sessions_agent_type", True),
    ("agents", "persona_type", "agent_type", "ix_agents_persona_type", True),
    ("user_sessions", "session_type", "user_session_type", "ix_user_sessions_session_type", False),
)
OPERATOR_READ_TABLES = ("agent_sessions", "user_sessions")
# The default profile's terms (profiles/shipped/default.toml 1.0.0) for these vocabularies.
DEFAULT_TERMS = {
    "agent_session_type": ("assistant", "kai", "developer", "qa", "architect"),
    "agent_type": (
        "assistant",
        "developer",
        "qa",
        "architect",
        "companion",
        "reality_check",
        "validator",
        "sub_agent",
    ),
    "user_session_type": ("interactive", "api", "web", "mobile", "cli"),
}
IS_OPERATOR = "coalesce(current_setting('agentkeep.principal', true), '') = 'operator'"

CHECK_TERM = """
CREATE FUNCTION agentkeep_check_term() RETURNS trigger LANGUAGE plpgsql
-- As the owner: on a Citus worker the application role may not read the reference table's
-- shell table there. The function only reads vocabulary_terms and the new row.
SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    -- On a Citus worker TG_TABLE_NAME is the shard's name: the table comes as an argument.
    v_table      text := TG_ARGV[0];
    v_column     text := TG_ARGV[1];
    v_vocabulary text := TG_ARGV[2];
    v_term       text := to_jsonb(NEW) ->> TG_ARGV[1];
BEGIN
    IF v_term IS NULL OR EXISTS (
        SELECT FROM public.vocabulary_terms AS t WHERE t.vocabulary = v_vocabulary AND t.term = v_term
    ) THEN
        RETURN NEW;
    END IF;
    -- Citus forwards only the message (and hint) from a worker: it names the constraint too.
    RAISE EXCEPTION '%.%: % is not a term of the vocabulary % (constraint "vk_%_%")',
            v_table, v_column, quote_literal(v_term), v_vocabulary, v_table, v_column
        USING ERRCODE = 'check_violation',
              TABLE = v_table,
              COLUMN = v_column,
              CONSTRAINT = format('vk_%s_%s', v_table, v_column),
              HINT = coalesce((SELECT 'allowed: ' || string_agg(t.term, ', ' ORDER BY t.position, t.term)
                               FROM public.vocabulary_terms AS t WHERE t.vocabulary = v_vocabulary),
                              'the vocabulary has no terms');
END
$$
"""


def _create_catalog() -> None:
    ddl.create_table(
        "profiles",
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("sha256", sa.LargeBinary, nullable=False),
        sa.Column("content", pg.JSONB, nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("applied_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("octet_length(sha256) = 32", name=op.f("ck_profiles_sha256_length")),
        sa.CheckConstraint("jsonb_typeof(content) = 'object'", name=op.f("ck_profiles_content_object")),
        sa.PrimaryKeyConstraint("name", name="pk_profiles"),
        tenancy="operator",
    )
    op.create_index(
        "uq_profiles_active", "profiles", ["is_active"], unique=True, postgresql_where=sa.text("is_active")
    )
    ddl.create_table(
        "vocabulary_terms",
        sa.Column("vocabulary", sa.String(63), nullable=False),
        sa.Column("term", sa.String(100), nullable=False),
        sa.Column("position", sa.SmallInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(
            "vocabulary ~ '^[a-z][a-z0-9_]{0,62}$'", name=op.f("ck_vocabulary_terms_vocabulary_name")
        ),
        sa.PrimaryKeyConstraint("vocabulary", "term", name="pk_vocabulary_terms"),
        tenancy="operator",
    )
    for table in ("profiles", "vocabulary_terms"):
        # Operator tables: the application reads; only the owner (not subject to RLS here) writes.
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {table}_read ON {table} FOR SELECT TO {APP_ROLE} USING (true)")
        op.execute(f"GRANT SELECT ON {table} TO {APP_ROLE}")
        ddl.add_updated_at_trigger(table)
    # On Citus, writing a reference table (agents) locks the reference tables it references, and
    # that asks for write privileges there. Row-level security still refuses every write of the
    # application role: vocabulary_terms has a read policy only.
    op.execute(f"GRANT INSERT, UPDATE, DELETE ON vocabulary_terms TO {APP_ROLE}")


def _fill_terms() -> None:
    terms = sa.table(
        "vocabulary_terms", sa.column("vocabulary"), sa.column("term"), sa.column("position", sa.SmallInteger)
    )
    op.bulk_insert(
        terms,
        [
            {"vocabulary": vocabulary, "term": term, "position": position}
            for vocabulary, listed in DEFAULT_TERMS.items()
            for position, term in enumerate(listed)
        ],
    )
    # Values already stored become terms (listed after the default's), so the keys can be made.
    # The owner sees user rows through the operator policy made just before.
    op.execute("SET LOCAL agentkeep.principal = 'operator'")
    for table, column, vocabulary, _index, _replaces in VOCABULARY_COLUMNS:
        op.get_bind().execute(
            sa.text(
                f"INSERT INTO vocabulary_terms (vocabulary, term, position) "  # noqa: S608 - identifiers are this module's constants
                f"SELECT CAST(:vocabulary AS varchar), used.{column}, 1000 FROM "
                f"(SELECT DISTINCT {column} FROM {table}) AS used "
                "ON CONFLICT (vocabulary, term) DO NOTHING"
            ),
            {"vocabulary": vocabulary},
        )
    op.execute("SET LOCAL agentkeep.principal = ''")


def _citus_settings() -> None:
    # Triggers on distributed tables are refused unless declared safe (this one reads a
    # reference table and the row itself); DDL after distributed writes needs one connection per
    # worker.
    if ddl.citus_installed():
        op.execute("SET LOCAL citus.enable_unsafe_triggers = on")
        op.execute("SET LOCAL citus.multi_shard_modify_mode = 'sequential'")


def upgrade() -> None:
    _citus_settings()
    _create_catalog()
    for table in OPERATOR_READ_TABLES:
        op.execute(
            f"CREATE POLICY {table}_operator_read ON {table} FOR SELECT TO CURRENT_USER USING ({IS_OPERATOR})"
        )
    _fill_terms()
    op.execute(CHECK_TERM)
    for table, column, vocabulary, index, replaces in VOCABULARY_COLUMNS:
        generated = f"{column}_vocabulary"
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN {generated} varchar(63) GENERATED ALWAYS AS ('{vocabulary}') STORED"
        )
        if replaces:
            op.drop_index(index, table_name=table)
        op.create_index(index, table, [column, generated])
        op.create_foreign_key(
            f"fk_{table}_{column}_terms",
            table,
            "vocabulary_terms",
            [generated, column],
            ["vocabulary", "term"],
            ondelete="RESTRICT",
        )
        op.execute(
            f"CREATE TRIGGER trg_{table}_{column}_vocabulary BEFORE INSERT OR UPDATE OF {column} ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION agentkeep_check_term('{table}', '{column}', '{vocabulary}')"
        )


def downgrade() -> None:
    _citus_settings()
    for table, column, _vocabulary, index, replaces in reversed(VOCABULARY_COLUMNS):
        op.execute(f"DROP TRIGGER trg_{table}_{column}_vocabulary ON {table}")
        op.drop_constraint(f"fk_{table}_{column}_terms", table, type_="foreignkey")
        op.drop_column(table, f"{column}_vocabulary")  # drops the index over it too
        if replaces:
            op.create_index(index, table, [column])
    op.execute("DROP FUNCTION agentkeep_check_term()")
    for table in OPERATOR_READ_TABLES:
        op.execute(f"DROP POLICY {table}_operator_read ON {table}")
    op.drop_table("vocabulary_terms")
    op.drop_table("profiles")

"""distributable schema: plain policies, handle tables, detaching deletes; Citus distribution

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 10:00:00.000000

On plain PostgreSQL this changes what Citus cannot take, keeping every guarantee:

- Policies read the acting user without a sub-select (Citus refuses sub-selects in policies).
- Global uniqueness of e-mail and username moves from partial unique indexes on ``users`` (which
  Citus cannot keep once ``users`` is sharded by user_id) to ``user_emails`` and
  ``user_usernames``, each keyed by the lower-cased handle: the primary key makes a taken handle
  a unique violation under any concurrency.
- ``ON DELETE SET NULL (col)`` (refused by Citus on keys that hold the distribution column)
  becomes ``ON DELETE RESTRICT`` plus a trigger that clears the references first, so deleting
  a parent still leaves its children with NULL, and a row still cannot point at another user's.

With the ``citus`` extension present it then distributes: every user table by user_id,
co-located with ``users``; catalogs and service keys as reference tables; the handle tables by
their handle. Foreign keys are dropped first and added back after, the order Citus needs.

Everything here is inlined (no ``ddl`` helper), so later changes to ``ddl.py`` cannot change it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agentkeep.database.roles import APP_ROLE

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

creates_tables: tuple[str, ...] = ("user_emails", "user_usernames")

# users first: the others are co-located with it.
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
REFERENCE_TABLES = (*CATALOG_TABLES, "service_keys")
# handle table -> its key, the column of users it holds (lower-cased), and its length.
HANDLE_TABLES = {"user_emails": ("email", 255), "user_usernames": ("username", 100)}

PLAIN_ACTING_USER = "NULLIF(current_setting('agentkeep.user_id', true), '')::uuid"
PLAIN_IS_SERVICE = "coalesce(current_setting('agentkeep.principal', true), '') = 'service'"
# 0001's forms, restored by downgrade.
SUBSELECT_ACTING_USER = f"(SELECT {PLAIN_ACTING_USER})"
SUBSELECT_IS_SERVICE = f"(SELECT {PLAIN_IS_SERVICE})"

# (foreign key, referencing table, its columns, referenced table, its columns, column cleared)
DETACHING_KEYS = (
    (
        "fk_agent_sessions_user_id_user_session_id_user_sessions",
        "agent_sessions",
        ("user_id", "user_session_id"),
        "user_sessions",
        ("user_id", "id"),
        "user_session_id",
    ),
    (
        "fk_conversations_user_id_agent_session_id_agent_sessions",
        "conversations",
        ("user_id", "agent_session_id"),
        "agent_sessions",
        ("user_id", "id"),
        "agent_session_id",
    ),
    (
        "fk_messages_user_id_agent_session_id_agent_sessions",
        "messages",
        ("user_id", "agent_session_id"),
        "agent_sessions",
        ("user_id", "id"),
        "agent_session_id",
    ),
    (
        "fk_messages_user_id_conversation_id_parent_message_id_messages",
        "messages",
        ("user_id", "conversation_id", "parent_message_id"),
        "messages",
        ("user_id", "conversation_id", "id"),
        "parent_message_id",
    ),
)

# 0001's checks that undistribute_table re-spells (see _restore_names_undistribute_changed).
IN_LIST_CHECKS = (
    (
        "agent_sessions",
        "ck_agent_sessions_status_valid",
        "status IN ('initializing', 'pending_approval', 'approved', 'running', 'paused', 'completed',"
        " 'failed', 'cancelled', 'blocked')",
    ),
    ("user_sessions", "ck_user_sessions_status_valid", "status IN ('active', 'ended', 'expired', 'revoked')"),
    ("messages", "ck_messages_message_type_valid", "message_type IN ('text', 'code', 'command', 'file')"),
    ("messages", "ck_messages_role_valid", "role IN ('user', 'assistant', 'system', 'tool')"),
)

FOREIGN_KEYS = sa.text(
    "SELECT conrelid::regclass::text AS table_name, conname, pg_get_constraintdef(oid) AS definition"
    " FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace"
    " AND conrelid::regclass::text = ANY(:tables) ORDER BY conrelid::regclass::text, conname"
)


def _citus_installed() -> bool:
    found = op.get_bind().exec_driver_sql("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')")
    return bool(found.scalar())


def _detach_function(table: str, column: str) -> str:
    return f"agentkeep_detach_{table}_{column}"


def _detach_trigger(table: str, column: str) -> str:
    # AFTER ROW triggers fire in name order (byte order), and the foreign key's own check is the
    # trigger "RI_ConstraintTrigger_a_<oid>": a name starting "Detach" (D < R) runs first, so
    # the children are cleared before RESTRICT looks for them. Rows deleted by the same statement
    # (a cascade from their conversation or user) are already invisible to the UPDATE.
    return f'"Detach_{table}_{column}"'


def _set_policies(acting_user: str, is_service: str) -> None:
    for table in USER_TABLES:
        op.execute(
            f"ALTER POLICY {table}_tenant ON {table} "
            f"USING (user_id = {acting_user}) WITH CHECK (user_id = {acting_user})"
        )
    for table in CATALOG_TABLES:
        op.execute(f"ALTER POLICY {table}_insert ON {table} WITH CHECK ({is_service})")
        op.execute(f"ALTER POLICY {table}_update ON {table} USING ({is_service}) WITH CHECK ({is_service})")
        op.execute(f"ALTER POLICY {table}_delete ON {table} USING ({is_service})")


def _replace_set_null_keys() -> None:
    for name, table, columns, referenced, referenced_columns, cleared in DETACHING_KEYS:
        matches = " AND ".join(
            f"{column} = OLD.{target}" for column, target in zip(columns, referenced_columns, strict=True)
        )
        # Identifiers are this revision's constants.
        op.execute(
            f"CREATE FUNCTION {_detach_function(table, cleared)}() RETURNS trigger LANGUAGE plpgsql AS $$\n"  # noqa: S608
            f"BEGIN\n    UPDATE {table} SET {cleared} = NULL WHERE {matches};\n    RETURN NULL;\nEND\n$$;"
        )
        op.execute(
            f"CREATE TRIGGER {_detach_trigger(table, cleared)} AFTER DELETE ON {referenced} "
            f"FOR EACH ROW EXECUTE FUNCTION {_detach_function(table, cleared)}()"
        )
        op.drop_constraint(name, table, type_="foreignkey")
        op.create_foreign_key(
            name, table, referenced, list(columns), list(referenced_columns), ondelete="RESTRICT"
        )


def _restore_set_null_keys() -> None:
    for name, table, columns, referenced, referenced_columns, cleared in DETACHING_KEYS:
        op.drop_constraint(name, table, type_="foreignkey")
        op.create_foreign_key(
            name,
            table,
            referenced,
            list(columns),
            list(referenced_columns),
            ondelete=f"SET NULL ({cleared})",
        )
        op.execute(f"DROP TRIGGER {_detach_trigger(table, cleared)} ON {referenced}")
        op.execute(f"DROP FUNCTION {_detach_function(table, cleared)}()")


def _create_handle_tables() -> None:
    op.drop_index("uq_users_username", table_name="users")
    op.drop_index("uq_users_email", table_name="users")
    for table, (key, length) in HANDLE_TABLES.items():
        op.create_table(
            table,
            sa.Column(key, sa.String(length=length), nullable=False),
            sa.Column("user_id", sa.UUID(), nullable=False),
            sa.Column(
                "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
            ),
            sa.Column(
                "updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
            ),
            sa.CheckConstraint(f"{key} = lower({key})", name=op.f(f"ck_{table}_lower_case")),
            sa.PrimaryKeyConstraint(key, name=op.f(f"pk_{table}")),
            info={"tenancy": "handle"},
        )
        op.create_index(f"ix_{table}_user_id", table, ["user_id"], unique=False)
        op.execute(
            f"CREATE TRIGGER trg_{table}_updated_at BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION agentkeep_set_updated_at()"
        )
    # The owner is subject to row-level security (FORCE): lift it for the copy, then restore it.
    op.execute("ALTER TABLE users NO FORCE ROW LEVEL SECURITY")
    op.execute(
        "INSERT INTO user_emails (email, user_id) SELECT lower(email), user_id FROM users"
        " WHERE deleted_at IS NULL"
    )
    op.execute(
        "INSERT INTO user_usernames (username, user_id) SELECT lower(username), user_id FROM users"
        " WHERE deleted_at IS NULL AND username IS NOT NULL"
    )
    op.execute("ALTER TABLE users FORCE ROW LEVEL SECURITY")
    for table in HANDLE_TABLES:
        # A user sees and changes only their own handles; a taken handle is still a unique
        # violation (uniqueness is checked against every row), without revealing whose it is.
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_tenant ON {table} FOR ALL "
            f"USING (user_id = {PLAIN_ACTING_USER}) WITH CHECK (user_id = {PLAIN_ACTING_USER})"
        )
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")


def _drop_handle_tables() -> None:
    for table in HANDLE_TABLES:
        op.drop_index(f"ix_{table}_user_id", table_name=table)
        op.drop_table(table)
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


def _prepare_citus_ddl() -> None:
    # Our triggers touch only their own row or rows of the same user (co-located): safe to run
    # on the shards. Distributing and then adding foreign keys in one transaction needs one
    # connection per worker.
    op.execute("SET LOCAL citus.enable_unsafe_triggers = on")
    op.execute("SET LOCAL citus.multi_shard_modify_mode = 'sequential'")


def _drop_foreign_keys() -> list[tuple[str, str, str]]:
    tables = [*REFERENCE_TABLES, *USER_TABLES, *HANDLE_TABLES]
    keys = [tuple(row) for row in op.get_bind().execute(FOREIGN_KEYS, {"tables": tables})]
    for table, name, _definition in keys:
        op.drop_constraint(name, table, type_="foreignkey")
    return [(str(table), str(name), str(definition)) for table, name, definition in keys]


def _add_foreign_keys(keys: list[tuple[str, str, str]]) -> None:
    # Definitions come from pg_get_constraintdef of this database's own constraints.
    for table, name, definition in keys:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")


ROW_SECURITY = sa.text(
    "SELECT relname::text, relrowsecurity, relforcerowsecurity FROM pg_class"
    " WHERE relnamespace = 'public'::regnamespace AND relname = ANY(:tables)"
)


def _lift_row_security(tables: list[str]) -> list[tuple[str, bool, bool]]:
    """Citus moves existing rows with COPY, which it refuses on tables with row-level security.

    Lifted inside this transaction only: no other session sees a table without it.
    """
    states = [tuple(row) for row in op.get_bind().execute(ROW_SECURITY, {"tables": tables})]
    for table, enabled, forced in states:
        if forced:
            op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        if enabled:
            op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    return [(str(table), bool(enabled), bool(forced)) for table, enabled, forced in states]


def _restore_row_security(states: list[tuple[str, bool, bool]]) -> None:
    for table, enabled, forced in states:
        if enabled:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        if forced:
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def _distribute() -> None:
    _prepare_citus_ddl()
    keys = _drop_foreign_keys()
    row_security = _lift_row_security([*REFERENCE_TABLES, *USER_TABLES, *HANDLE_TABLES])
    bind = op.get_bind()
    for table in REFERENCE_TABLES:
        bind.execute(sa.text("SELECT create_reference_table(CAST(:t AS text)::regclass)"), {"t": table})
    for table in USER_TABLES:
        bind.execute(
            sa.text(
                "SELECT create_distributed_table(CAST(:t AS text)::regclass, 'user_id', colocate_with => :c)"
            ),
            {"t": table, "c": "default" if table == "users" else "users"},
        )
    for table, (key, _length) in HANDLE_TABLES.items():
        bind.execute(
            sa.text(
                "SELECT create_distributed_table(CAST(:t AS text)::regclass, :k, colocate_with => 'none')"
            ),
            {"t": table, "k": key},
        )
    _restore_row_security(row_security)
    _add_foreign_keys(keys)


def _undistribute() -> None:
    # pg_dist_partition, not the citus_tables view: that one measures every table over new
    # connections, which would wait forever for the locks this transaction holds.
    _prepare_citus_ddl()
    keys = _drop_foreign_keys()
    # Without this the rows would be copied as the owner under its own policies: none of them.
    row_security = _lift_row_security([*REFERENCE_TABLES, *USER_TABLES, *HANDLE_TABLES])
    for table in [*HANDLE_TABLES, *reversed(USER_TABLES), *REFERENCE_TABLES]:
        op.get_bind().execute(
            sa.text(
                "SELECT undistribute_table(logicalrelid) FROM pg_dist_partition"
                " WHERE logicalrelid = to_regclass(:t)"
            ),
            {"t": table},
        )
    _restore_row_security(row_security)
    _add_foreign_keys(keys)
    _restore_names_undistribute_changed()


def _restore_names_undistribute_changed() -> None:
    """undistribute_table rebuilds each table under a temporary name: put back what it renamed.

    NOT NULL constraints (catalogued since PostgreSQL 18) keep the temporary name, and an
    ``IN (...)`` list in a check or an index predicate comes back in an equivalent spelling that
    differs from a fresh 0001: restate those from 0001's text.
    """
    renamed = op.get_bind().execute(
        sa.text(
            "SELECT c.conrelid::regclass::text, c.conname, a.attname FROM pg_constraint c"
            " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]"
            " WHERE c.contype = 'n' AND c.connamespace = 'public'::regnamespace"
            " AND c.conrelid::regclass::text = ANY(:tables)"
            " AND c.conname <> c.conrelid::regclass::text || '_' || a.attname || '_not_null'"
        ),
        {"tables": [*USER_TABLES, *REFERENCE_TABLES]},
    )
    for table, name, column in list(renamed):
        op.execute(f'ALTER TABLE {table} RENAME CONSTRAINT "{name}" TO {table}_{column}_not_null')
    for table, name, condition in IN_LIST_CHECKS:
        op.drop_constraint(op.f(name), table, type_="check")
        op.create_check_constraint(op.f(name), table, condition)
    op.drop_index("ix_agent_sessions_active", table_name="agent_sessions")
    op.create_index(
        "ix_agent_sessions_active",
        "agent_sessions",
        ["created_at", "status"],
        unique=False,
        postgresql_where=sa.text("status IN ('running', 'pending_approval', 'approved')"),
    )


def upgrade() -> None:
    _set_policies(PLAIN_ACTING_USER, PLAIN_IS_SERVICE)
    _replace_set_null_keys()
    _create_handle_tables()
    if _citus_installed():
        _distribute()


def downgrade() -> None:
    if _citus_installed():
        _undistribute()
    _drop_handle_tables()
    _restore_set_null_keys()
    _set_policies(SUBSELECT_ACTING_USER, SUBSELECT_IS_SERVICE)

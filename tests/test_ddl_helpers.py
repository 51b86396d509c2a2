"""The ddl helpers later revisions use: a new user table is made, secured and distributed at once."""

from __future__ import annotations

from typing import Any

import asyncpg
import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from agentkeep.database import migrate
from agentkeep.database.engine import Database
from agentkeep.database.migrations import ddl
from agentkeep.database.urls import asyncpg_dsn
from agentkeep.ids import new_id


def _a_later_revision(sync: Connection) -> None:
    with Operations.context(MigrationContext.configure(sync)):
        ddl.create_table(
            "widgets",
            sa.Column("user_id", sa.UUID(), nullable=False),
            sa.Column("id", sa.UUID(), nullable=False),
            sa.Column("conversation_id", sa.UUID(), nullable=False),
            sa.Column(
                "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
            ),
            sa.Column(
                "updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
            ),
            sa.PrimaryKeyConstraint("user_id", "id", name="pk_widgets"),
            sa.ForeignKeyConstraint(
                ["user_id"], ["users.user_id"], name="fk_widgets_user_id_users", ondelete="CASCADE"
            ),
            sa.ForeignKeyConstraint(
                ["user_id", "conversation_id"],
                ["conversations.user_id", "conversations.id"],
                name="fk_widgets_user_id_conversation_id_conversations",
                ondelete="CASCADE",
            ),
            tenancy="user",
        )
        ddl.tenant_policy("widgets")
        ddl.add_updated_at_trigger("widgets")
        ddl.audit_table("widgets", "user", ("user_id", "id"))


async def test_a_new_user_table_is_distributed_secured_and_keeps_its_keys(database_factory: Any) -> None:
    async with database_factory("agentkeep_ddl_helpers") as urls:
        database = Database.from_urls(urls)
        try:
            await migrate.upgrade(database)
            async with database.owner_transaction() as conn:
                await conn.run_sync(_a_later_revision)
            owner = await asyncpg.connect(asyncpg_dsn(urls.owner))
            try:
                keys = await owner.fetch(
                    "SELECT conname, confdeltype FROM pg_constraint"
                    " WHERE conrelid = 'widgets'::regclass AND contype = 'f' ORDER BY conname"
                )
                policy = await owner.fetchval("SELECT qual FROM pg_policies WHERE tablename = 'widgets'")
                citus = await owner.fetchval(
                    "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')"
                )
                placement = (
                    await owner.fetchrow(
                        "SELECT partkey IS NOT NULL AS sharded, colocationid ="
                        " (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'users'::regclass)"
                        " AS with_users FROM pg_dist_partition WHERE logicalrelid = 'widgets'::regclass"
                    )
                    if citus
                    else None
                )
                user_id = new_id()
                async with owner.transaction():
                    await owner.execute(f"SET LOCAL agentkeep.user_id = '{user_id}'")
                    await owner.execute(
                        "INSERT INTO users (user_id, email) VALUES ($1, 'w@example.com')", user_id
                    )
                    await owner.execute("INSERT INTO conversations (user_id, id) VALUES ($1, $1)", user_id)
                    await owner.execute(
                        "INSERT INTO widgets (user_id, id, conversation_id) VALUES ($1, $1, $1)", user_id
                    )
                    seen = await owner.fetchval("SELECT count(*) FROM widgets")
                    await owner.execute("UPDATE widgets SET updated_at = now() WHERE user_id = $1", user_id)
                    await owner.execute("SELECT set_config('agentkeep.principal', 'operator', true)")
                    audited = await owner.fetch(
                        "SELECT operation FROM audit_log WHERE user_id = $1 AND table_name = 'widgets'"
                        " ORDER BY seq",
                        user_id,
                    )
                triggers = await owner.fetch(
                    "SELECT tgname, tgtype, tgfoid::regproc::text FROM pg_trigger"
                    " WHERE tgrelid = 'widgets'::regclass AND tgname LIKE 'audit%' ORDER BY tgname"
                )
                hidden = await owner.fetchval("SELECT count(*) FROM widgets")  # no acting user: none
            finally:
                await owner.close()
        finally:
            await database.close()
    assert [(row[0], row[1].decode()) for row in keys] == [
        ("fk_widgets_user_id_conversation_id_conversations", "c"),
        ("fk_widgets_user_id_users", "c"),
    ]
    assert "SELECT" not in policy.upper() and "agentkeep.user_id" in policy
    assert (seen, hidden) == (1, 0)
    # The newest audit triggers (revision 0015): inserts per statement, the rest per row; on
    # Citus the row trigger that writes the co-located audit shards, for every change.
    assert [operation for (operation,) in audited] == ["INSERT", "UPDATE"]
    assert [tuple(row) for row in triggers] == (
        [("audit_widgets", 1 + 4 + 8 + 16, "audit_row_citus")]
        if citus
        else [
            ("audit_widgets", 1 + 8 + 16, "audit_row"),
            ("audit_widgets_insert", 4, "audit_insert_statement"),
        ]
    )
    if citus:
        assert placement is not None and placement["sharded"] and placement["with_users"]

"""Migrations: every revision goes up, down and up again, and the result equals the models."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from agentkeep.database import migrate
from agentkeep.database.engine import Database
from agentkeep.database.urls import asyncpg_dsn
from agentkeep.errors import InvalidInput
from agentkeep.schema import SCHEMA, metadata

# Citus keeps the shards of reference tables (named <table>_<shard id>) on the coordinator too.
COLUMNS = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
  AND c.relname <> 'alembic_version' AND c.relname !~ '_[0-9]+$'
"""
CONSTRAINTS = """
SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conparentid = 0
  AND conrelid::regclass::text <> 'alembic_version' AND conrelid::regclass::text !~ '_[0-9]+$'
"""
INDEXES = (
    "SELECT tablename, indexname, indexdef FROM pg_indexes"
    " WHERE schemaname = 'public' AND tablename <> 'alembic_version' AND tablename !~ '_[0-9]+$'"
)
TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename !~ '_[0-9]+$' ORDER BY 1"
FUNCTIONS = (
    "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND proname LIKE 'agentkeep_%'"
)


@pytest.fixture
async def scratch(database_factory: Any, request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """An empty database of its own (on every node on Citus), dropped afterwards."""
    async with database_factory(f"agentkeep_scratch_{request.node.name[:30].lower()}") as scratch_urls:
        database = Database.from_urls(scratch_urls, schema=SCHEMA)
        yield database
        await database.close()


async def _catalog(database: Database) -> dict[str, set[tuple[object, ...]]]:
    conn = await asyncpg.connect(asyncpg_dsn(database.urls.owner))
    try:
        return {
            name: {tuple(row) for row in await conn.fetch(query)}
            for name, query in (("columns", COLUMNS), ("constraints", CONSTRAINTS), ("indexes", INDEXES))
        }
    finally:
        await conn.close()


async def _tables(database: Database) -> list[str]:
    conn = await asyncpg.connect(asyncpg_dsn(database.urls.owner))
    try:
        return [row[0] for row in await conn.fetch(TABLES)]
    finally:
        await conn.close()


async def test_each_migration_goes_up_down_and_up_again(scratch: Database) -> None:
    revisions = [item.revision for item in await migrate.status(scratch)]
    assert revisions, "there are no migrations"
    previous = "base"
    for revision in revisions:
        await migrate.upgrade(scratch, revision)
        after_up = await _catalog(scratch)
        await migrate.downgrade(scratch, previous)
        await migrate.upgrade(scratch, revision)
        assert await _catalog(scratch) == after_up, f"{revision} is not the same after down and up"
        previous = revision
    await migrate.downgrade(scratch, "base")
    assert await _tables(scratch) == ["alembic_version"]
    conn = await asyncpg.connect(asyncpg_dsn(scratch.urls.owner))
    try:
        assert await conn.fetch(FUNCTIONS) == [], "downgrade left functions behind"
    finally:
        await conn.close()
    await migrate.upgrade(scratch)
    assert set(await _tables(scratch)) == set(metadata.tables) | {"alembic_version"}


# Monthly partitions (<table>_YYYY_MM) are made at run time, not declared; so are the foreign keys
# PostgreSQL adds per partition of a referenced partitioned table.
PARTITION_NAME = re.compile(r"_[0-9]{4}_[0-9]{2}$")


def _declared_objects_only(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    if type_ == "table" and name and PARTITION_NAME.search(name):
        return False
    if type_ in ("index", "foreign_key_constraint") and PARTITION_NAME.search(obj.table.name):
        return False
    return not (type_ == "foreign_key_constraint" and PARTITION_NAME.search(obj.referred_table.name))


async def test_schema_from_migrations_equals_declared_models(database: Database, scratch: Database) -> None:
    async with database.owner_transaction() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(
                    sync,
                    opts={
                        "compare_type": True,
                        "compare_server_default": True,
                        "include_object": _declared_objects_only,
                    },
                ),
                metadata,
            )
        )
    assert diff == [], f"models and migrations disagree: {diff}"
    # Alembic does not compare check constraints or foreign key actions: compare the catalogs of
    # the migrated database and one built straight from the models, object by object.
    async with scratch.owner_transaction() as conn:
        await conn.run_sync(metadata.create_all)
    migrated, declared = await _catalog(database), await _catalog(scratch)
    for kind in ("columns", "constraints", "indexes"):
        assert migrated[kind] == declared[kind], (
            f"{kind} differ: only in migrations {migrated[kind] - declared[kind]}, "
            f"only in models {declared[kind] - migrated[kind]}"
        )


async def test_status_names_every_table_each_revision_creates(database: Database) -> None:
    statuses = await migrate.status(database)
    assert all(item.is_applied for item in statuses)
    created = [table for item in statuses for table in item.creates_tables]
    assert sorted(created) == sorted(metadata.tables), "creates_tables must name each table once"
    assert await migrate.pending(database) == []


def test_revision_creating_a_table_is_found_by_name() -> None:
    assert migrate.revision_creating("messages") == "0001"
    with pytest.raises(InvalidInput, match="no migration creates a table named 'kai_nonsense'"):
        migrate.revision_creating("kai_nonsense")


async def test_pending_migrations_are_listed_before_upgrade(scratch: Database) -> None:
    assert await migrate.pending(scratch) == [item.revision for item in await migrate.status(scratch)]
    await migrate.upgrade(scratch, migrate.revision_creating("users"))
    assert "users" in await _tables(scratch)


# pg_trigger.tgtype: ROW 1, INSERT 4, DELETE 8, UPDATE 16.
AUDIT_TRIGGERS = """
SELECT t.tgrelid::regclass::text, t.tgname, t.tgtype, t.tgfoid::regproc::text FROM pg_trigger AS t
 WHERE NOT t.tgisinternal AND t.tgparentid = 0 AND t.tgname LIKE 'audit\\_%'
   AND t.tgrelid::regclass::text <> 'audit_log'
"""


@pytest.mark.no_citus("revision 0015 leaves Citus's row triggers as they are")
async def test_audit_speed_goes_down_to_the_row_triggers_of_0005_and_up_again(scratch: Database) -> None:
    revisions = [item.revision for item in await migrate.status(scratch)]
    before = revisions[revisions.index("0015") - 1]
    await migrate.upgrade(scratch)
    conn = await asyncpg.connect(asyncpg_dsn(scratch.urls.owner))
    try:
        after_up = set(await conn.fetch(AUDIT_TRIGGERS))
        audited = {row[0] for row in after_up}
        assert {"users", "messages", "operator_keys"} <= audited  # 0008's table too
        assert after_up == {(t, f"audit_{t}", 1 + 8 + 16, "audit_row") for t in audited} | {
            (t, f"audit_{t}_insert", 4, "audit_insert_statement") for t in audited
        }
        await migrate.downgrade(scratch, before)
        assert set(await conn.fetch(AUDIT_TRIGGERS)) == {
            (t, f"audit_{t}", 1 + 4 + 8 + 16, "audit_row") for t in audited
        }
        assert await conn.fetchval("SELECT to_regprocedure('audit_insert_statement()')") is None
        await migrate.upgrade(scratch)
        assert set(await conn.fetch(AUDIT_TRIGGERS)) == after_up
    finally:
        await conn.close()

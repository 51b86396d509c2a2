"""Seed schema: updated_at triggers, naming, keys, delete rules, pgvector, migrations, doctor.

docs/seed-mapping.md names these tests, row by row. Every test runs against the real embedded
PostgreSQL; raw SQL runs as the application role (row-level security on) inside a transaction
that is rolled back, so the rows it writes never outlive it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from agentkeep.database import migrate
from agentkeep.database.doctor import run_checks
from agentkeep.errors import InvalidInput
from agentkeep.principal import Principal
from seed_helpers import (
    CATALOG_TABLES,
    FOUNDATION_TABLES,
    USER_TABLES,
    add_agent,
    add_agent_session,
    add_api_key,
    add_conversation,
    add_message,
    add_persona,
    add_persona_activation,
    add_user_session,
)

# ---------------------------------------------------------------------------------------------
# updated_at trigger (seed 004 update_updated_at_column, applied to every table)
# ---------------------------------------------------------------------------------------------

Builder = Callable[[asyncpg.Connection, uuid.UUID], Awaitable[tuple[str, tuple[Any, ...]]]]


async def _users_row(conn: asyncpg.Connection, user_id: uuid.UUID) -> tuple[str, tuple[Any, ...]]:
    return "user_id = $1", (user_id,)


async def _user_sessions_row(conn: asyncpg.Connection, user_id: uuid.UUID) -> tuple[str, tuple[Any, ...]]:
    return "user_id = $1 AND id = $2", (user_id, await add_user_session(conn, user_id))


async def _api_keys_row(conn: asyncpg.Connection, user_id: uuid.UUID) -> tuple[str, tuple[Any, ...]]:
    return "user_id = $1 AND id = $2", (user_id, await add_api_key(conn, user_id))


async def _agent_sessions_row(conn: asyncpg.Connection, user_id: uuid.UUID) -> tuple[str, tuple[Any, ...]]:
    return "user_id = $1 AND id = $2", (user_id, await add_agent_session(conn, user_id))


async def _conversations_row(conn: asyncpg.Connection, user_id: uuid.UUID) -> tuple[str, tuple[Any, ...]]:
    return "user_id = $1 AND id = $2", (user_id, await add_conversation(conn, user_id))


async def _messages_row(conn: asyncpg.Connection, user_id: uuid.UUID) -> tuple[str, tuple[Any, ...]]:
    conversation = await add_conversation(conn, user_id)
    return "user_id = $1 AND id = $2", (user_id, await add_message(conn, user_id, conversation))


async def _persona_activations_row(
    conn: asyncpg.Connection, user_id: uuid.UUID
) -> tuple[str, tuple[Any, ...]]:
    session = await add_agent_session(conn, user_id)
    activation = await add_persona_activation(conn, user_id, session, await add_persona(conn))
    return "user_id = $1 AND id = $2", (user_id, activation)


async def _agents_row(conn: asyncpg.Connection, user_id: uuid.UUID) -> tuple[str, tuple[Any, ...]]:
    return "id = $1", (await add_agent(conn),)


async def _personas_row(conn: asyncpg.Connection, user_id: uuid.UUID) -> tuple[str, tuple[Any, ...]]:
    return "id = $1", (await add_persona(conn),)


UPDATED_AT_ROWS: dict[str, Builder] = {
    "users": _users_row,
    "user_sessions": _user_sessions_row,
    "api_keys": _api_keys_row,
    "agent_sessions": _agent_sessions_row,
    "conversations": _conversations_row,
    "messages": _messages_row,
    "persona_activations": _persona_activations_row,
    "agents": _agents_row,
    "personas": _personas_row,
}


@pytest.mark.parametrize("table", sorted(UPDATED_AT_ROWS))
async def test_updated_at_trigger_bumps_updated_at(as_app, make_user, table: str) -> None:
    user = await make_user()
    async with as_app(Principal.service(user.user_id)) as conn:
        where, args = await UPDATED_AT_ROWS[table](conn, user.user_id)
        # Even an UPDATE that tries to set updated_at itself gets the trigger's now().
        row = await conn.fetchrow(
            f"UPDATE {table} SET updated_at = '2000-01-01T00:00:00Z' WHERE {where} "
            "RETURNING updated_at, created_at, now() AS now",
            *args,
        )
    assert row is not None
    assert row["updated_at"] == row["now"]
    assert row["updated_at"] >= row["created_at"]


@pytest.mark.parametrize("table", FOUNDATION_TABLES)
async def test_every_foundation_table_has_updated_at_trigger(owner, table: str) -> None:
    trigger = await owner.fetchrow(
        "SELECT t.tgenabled::text AS tgenabled, p.proname "
        "FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
        "WHERE t.tgrelid = $1::regclass AND t.tgname = $2",
        table,
        f"trg_{table}_updated_at",
    )
    assert trigger is not None
    assert trigger["proname"] == "agentkeep_set_updated_at"
    assert trigger["tgenabled"] == "O"


# ---------------------------------------------------------------------------------------------
# Conventions (004 naming, 002 explicit CASCADE/RESTRICT, 004 indexed foreign keys)
# ---------------------------------------------------------------------------------------------


async def test_foundation_tables_follow_naming_conventions(owner) -> None:
    """004 1.1: plural snake_case tables, is_/has_ booleans; 1.2: created_at/updated_at on all."""
    tables = {
        row["table_name"]
        for row in await owner.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    }
    assert set(FOUNDATION_TABLES) <= tables
    columns = await owner.fetch(
        "SELECT table_name, column_name, data_type, is_nullable, column_default "
        "FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = ANY($1::text[])",
        list(FOUNDATION_TABLES),
    )
    for table in FOUNDATION_TABLES:
        assert table.islower()
        assert table.endswith("s")
        assert " " not in table
        own = {row["column_name"]: row for row in columns if row["table_name"] == table}
        for stamp in ("created_at", "updated_at"):
            assert own[stamp]["data_type"] == "timestamp with time zone", (table, stamp)
            assert own[stamp]["is_nullable"] == "NO", (table, stamp)
            assert own[stamp]["column_default"] == "now()", (table, stamp)
    booleans = [(row["table_name"], row["column_name"]) for row in columns if row["data_type"] == "boolean"]
    assert booleans
    assert all(name.startswith(("is_", "has_")) for _, name in booleans), booleans


async def test_no_timestamp_without_time_zone(owner) -> None:
    naive = await owner.fetch(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND data_type = 'timestamp without time zone'"
    )
    assert [tuple(row) for row in naive] == []


async def test_primary_keys_are_uuids_led_by_user_id(owner) -> None:
    rows = await owner.fetch(
        "SELECT c.conrelid::regclass::text AS table_name, "
        "array_agg(a.attname ORDER BY k.ord) AS columns, "
        "array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY k.ord) AS types "
        "FROM pg_constraint c "
        "CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord) "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum "
        "WHERE c.contype = 'p' AND c.conrelid::regclass::text = ANY($1::text[]) GROUP BY 1",
        list({*FOUNDATION_TABLES, *USER_TABLES}),
    )
    keys = {row["table_name"]: (list(row["columns"]), set(row["types"])) for row in rows}
    assert keys.pop("users") == (["user_id"], {"uuid"})
    for table in USER_TABLES[1:]:
        if table in FOUNDATION_TABLES:
            assert keys.pop(table) == (["user_id", "id"], {"uuid"}), table
        else:  # later tables keyed by what names a row within the user: user_id still leads
            assert keys.pop(table)[0][0] == "user_id", table
    assert keys == {table: (["id"], {"uuid"}) for table in (*CATALOG_TABLES, "service_keys")}


FOREIGN_KEYS = """
SELECT c.conname, c.conrelid::regclass::text AS table_name, c.confdeltype::text AS confdeltype,
       array_agg(a.attname ORDER BY k.ord) AS columns
FROM pg_constraint c
CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
GROUP BY c.oid, c.conname, c.conrelid, c.confdeltype
"""

# 'c' CASCADE, 'r' RESTRICT ('n' SET NULL became RESTRICT plus a clearing trigger in 0002: Citus)
FOUNDATION_DELETE_RULES = {
    "fk_api_keys_user_id_users": "c",
    "fk_user_sessions_user_id_users": "c",
    "fk_agent_sessions_user_id_users": "c",
    "fk_agent_sessions_agent_id_agents": "r",
    "fk_agent_sessions_user_id_user_session_id_user_sessions": "r",  # cleared by a trigger first
    "fk_conversations_user_id_users": "c",
    "fk_conversations_agent_id_agents": "r",
    "fk_conversations_user_id_agent_session_id_agent_sessions": "r",  # cleared by a trigger first
    "fk_persona_activations_user_id_users": "c",
    "fk_persona_activations_persona_id_personas": "r",
    "fk_persona_activations_user_id_agent_session_id_agent_sessions": "c",
    "fk_messages_user_id_users": "c",
    "fk_messages_user_id_conversation_id_conversations": "c",
    "fk_messages_user_id_conversation_id_parent_message_id_messages": "r",  # cleared by a trigger first
    "fk_messages_user_id_agent_session_id_agent_sessions": "r",  # cleared by a trigger first
}


async def test_every_foreign_key_names_its_delete_rule(owner) -> None:
    """002 QA: explicit CASCADE/RESTRICT (or SET NULL) on every foreign key, never NO ACTION."""
    rows = await owner.fetch(FOREIGN_KEYS)
    rules = {row["conname"]: row["confdeltype"] for row in rows}
    assert {name: rules.get(name) for name in FOUNDATION_DELETE_RULES} == FOUNDATION_DELETE_RULES
    assert [name for name, rule in rules.items() if rule == "a"] == []


async def test_foreign_keys_are_indexed(owner) -> None:
    """004 1.4: an index whose leading columns are FK columns and include the FK's last column."""
    foreign_keys = await owner.fetch(FOREIGN_KEYS)
    indexes = await owner.fetch(
        "SELECT i.indrelid::regclass::text AS table_name, "
        "array_agg(a.attname ORDER BY k.ord) AS columns "
        "FROM pg_index i "
        "CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) "
        "LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
        "WHERE i.indrelid::regclass::text IN "
        "(SELECT tablename FROM pg_tables WHERE schemaname = 'public') "
        "GROUP BY i.indexrelid, i.indrelid"
    )

    def covered(table: str, fk_columns: list[str]) -> bool:
        for index in indexes:
            if index["table_name"] != table:
                continue
            leading: list[str] = []
            for column in index["columns"]:
                if column not in fk_columns:
                    break
                leading.append(column)
            if leading and fk_columns[-1] in leading:
                return True
        return False

    unindexed = {fk["conname"] for fk in foreign_keys if not covered(fk["table_name"], list(fk["columns"]))}
    assert unindexed == set()


# ---------------------------------------------------------------------------------------------
# Extensions and migrations (003 pgvector, 000 migrate.py --table/--status, 001/002 versioning)
# ---------------------------------------------------------------------------------------------


async def test_pgvector_extension_is_installed(owner) -> None:
    assert await owner.fetchval("SELECT extname FROM pg_extension WHERE extname = 'vector'") == "vector"
    dimensions = await owner.fetchval("SELECT vector_dims(array_fill(0.5, ARRAY[1536])::vector)")
    assert dimensions == 1536
    distance = await owner.fetchval("SELECT '[1,0,0]'::vector <=> '[0,1,0]'::vector")
    assert distance == pytest.approx(1.0)


async def test_migration_status_and_table_lookup(database, owner) -> None:
    """000 `migrate.py --status` / `--table X`; 001 schema_migrations and 002 schema_version."""
    revisions = {status.revision: status for status in await migrate.status(database)}
    foundation = revisions["0001"]
    assert foundation.is_applied
    assert set(FOUNDATION_TABLES) <= set(foundation.creates_tables)
    assert migrate.revision_creating("agent_sessions") == "0001"
    assert migrate.revision_creating("messages") == "0001"
    with pytest.raises(InvalidInput):
        migrate.revision_creating("schema_migrations")
    applied = await owner.fetch("SELECT version_num FROM alembic_version")
    assert len(applied) == 1
    assert revisions[applied[0]["version_num"]].is_applied


async def test_doctor_reports_a_healthy_database(database) -> None:
    """002 `test_connection()`: `agentkeep doctor` checks reachability, version, pgvector, RLS."""
    checks = {check.name: check for check in await run_checks(database)}
    assert {"database reachable", "PostgreSQL version", "pgvector", "row-level security"} <= set(checks)
    failing = [f"{check.name}: {check.detail}" for check in checks.values() if not check.ok]
    assert failing == []

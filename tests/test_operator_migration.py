"""Revision 0008 down and up again, with an operator key and users in it: what the generic
migration test does not compare (functions, their owner, policies, column grants, the view)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from agentkeep.database import migrate
from agentkeep.database.engine import Database
from agentkeep.database.roles import OPERATOR_ROLE
from agentkeep.database.urls import asyncpg_dsn
from agentkeep.schema import SCHEMA

OPERATOR_OBJECTS = {
    "functions": (
        "SELECT proname || ':' || pg_get_userbyid(proowner) FROM pg_proc"
        " WHERE pronamespace = 'public'::regnamespace AND proname LIKE 'operator\\_%'"
    ),
    "policies": "SELECT tablename || '.' || policyname FROM pg_policies WHERE $1 = ANY(roles)",
    "column grants": (
        "SELECT table_name || '.' || column_name FROM information_schema.column_privileges WHERE grantee = $1"
    ),
    # (Citus has views of its own in public.)
    "views": (
        "SELECT viewname FROM pg_views WHERE schemaname = 'public' AND viewname = 'user_activity_summary'"
    ),
    "tables": "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename = 'operator_keys'",
}


@pytest.fixture
async def scratch(database_factory: Any) -> AsyncIterator[Database]:
    async with database_factory("agentkeep_scratch_operators") as scratch_urls:
        database = Database.from_urls(scratch_urls, schema=SCHEMA)
        yield database
        await database.close()


async def _objects(database: Database) -> dict[str, set[str]]:
    conn = await asyncpg.connect(asyncpg_dsn(database.urls.owner))
    try:
        found: dict[str, set[str]] = {}
        for kind, query in OPERATOR_OBJECTS.items():
            args = [OPERATOR_ROLE] if "$1" in query else []
            found[kind] = {row[0] for row in await conn.fetch(query, *args)}
        return found
    finally:
        await conn.close()


async def test_revision_0008_goes_down_and_up_with_rows_in_it(scratch: Database) -> None:
    await migrate.upgrade(scratch, "0008")
    up = await _objects(scratch)
    assert up["functions"] == {
        f"operator_audit_read:{OPERATOR_ROLE}",
        f"operator_user_activity_summary:{OPERATOR_ROLE}",
    }
    assert up["policies"] == {
        "users.users_operator_functions",
        "agent_sessions.agent_sessions_operator_functions",
    }
    assert up["views"] == {"user_activity_summary"} and up["tables"] == {"operator_keys"}
    async with scratch.owner_transaction() as conn:
        await conn.exec_driver_sql(
            "INSERT INTO operator_keys (id, name, secret_hash) VALUES (gen_random_uuid(), 'k', sha256('k'))"
        )
    await migrate.downgrade(scratch, "0004")
    assert await _objects(scratch) == {kind: set() for kind in OPERATOR_OBJECTS}
    await migrate.upgrade(scratch, "0008")
    assert await _objects(scratch) == up

"""The five compatibility schemas as objects: what revision 0003 creates, grants and drops.

Every view is security_invoker and read-only for the application role; nobody else may use the
schemas; revision 0003 goes up, down and up again to the same objects; and the documented
connection string (docs/profiles.md, "Compatibility schemas") runs a seed query as written.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from agentkeep.database import migrate
from agentkeep.database.engine import Database
from agentkeep.database.migrations import consent_views_0013
from agentkeep.database.roles import APP_ROLE
from agentkeep.database.urls import DatabaseUrls, asyncpg_dsn
from agentkeep.keep import Keep
from agentkeep.principal import Principal
from agentkeep.schema import SCHEMA
from compat_helpers import COMPAT_SCHEMAS, AsApp, World, build_world

PROFILES_DOC = Path(__file__).resolve().parent.parent / "docs" / "profiles.md"
REVISION = migrate.script_directory().get_revision("0003").module
AUDIT_REVISION = migrate.script_directory().get_revision("0005").module
VAULT_REVISION = migrate.script_directory().get_revision("0009").module
DECISIONS_REVISION = migrate.script_directory().get_revision("0010").module
REVISION_VIEWS = {(schema, view) for schema, views in REVISION.VIEWS.items() for view, _ in views}
GOVERNANCE_REVISION = migrate.script_directory().get_revision("0012").module
TRUST_REVISION = migrate.script_directory().get_revision("0014").module
SERVED_VIEWS = (
    REVISION_VIEWS
    | set(AUDIT_REVISION.COMPAT_VIEWS)
    | set(VAULT_REVISION.COMPAT_VIEWS)
    | {(schema, view) for schema, view, _ in DECISIONS_REVISION.VIEWS}
    | set(GOVERNANCE_REVISION.COMPAT_VIEWS)
    | set(consent_views_0013.COMPAT_VIEWS)
    | set(TRUST_REVISION.COMPAT_VIEWS)
)

COMPAT_VIEWS = """
SELECT n.nspname AS schema, c.relname AS view, c.reloptions, pg_get_viewdef(c.oid) AS definition
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY($1::text[]) AND c.relkind = 'v'
ORDER BY 1, 2
"""
COMPAT_FUNCTIONS = """
SELECT n.nspname AS schema, p.proname AS function, p.proconfig, p.proacl::text[] AS acl, p.prosrc
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = ANY($1::text[])
ORDER BY 1, 2
"""
COMPAT_SCHEMA_ACLS = (
    "SELECT nspname, nspacl::text[] FROM pg_namespace WHERE nspname = ANY($1::text[]) ORDER BY 1"
)


@pytest.fixture(scope="module")
async def world(keep: Keep) -> World:
    return await build_world(keep)


def test_the_five_profiles_each_have_a_schema() -> None:
    assert tuple(REVISION.VIEWS) == COMPAT_SCHEMAS
    assert REVISION.creates_tables == (), "views are not tables: migrations == models stays about tables"


async def test_every_compat_view_is_security_invoker(owner: asyncpg.Connection) -> None:
    rows = await owner.fetch(COMPAT_VIEWS, list(COMPAT_SCHEMAS))
    assert {(row["schema"], row["view"]) for row in rows} == SERVED_VIEWS
    not_invoker = [
        f"{r['schema']}.{r['view']}" for r in rows if "security_invoker=true" not in (r["reloptions"] or [])
    ]
    assert not_invoker == []


@pytest.mark.parametrize(("schema", "view"), sorted(SERVED_VIEWS))
async def test_the_application_role_may_only_read_the_view(
    owner: asyncpg.Connection, schema: str, view: str
) -> None:
    privileges = await owner.fetch(
        "SELECT privilege, has_table_privilege($1, $2, privilege) AS granted"
        " FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'])"
        " AS privilege",
        APP_ROLE,
        f"{schema}.{view}",
    )
    # Seed 002's agent_audit_log also takes INSERT (an INSTEAD OF trigger appends an action).
    writable = {"SELECT", "INSERT"} if (schema, view) in AUDIT_REVISION.INSERTABLE_VIEWS else {"SELECT"}
    assert {row["privilege"] for row in privileges if row["granted"]} == writable


async def test_a_write_through_a_view_is_refused(as_app: AsApp, world: World) -> None:
    alice = world.alice
    async with as_app(Principal.user(alice.user_id)) as conn:
        await conn.execute("SET LOCAL search_path = othello")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await conn.execute(
                "UPDATE conversations SET title = 'renamed' WHERE id = $1", alice.conversation_id
            )
    async with as_app(Principal.user(alice.user_id)) as conn:
        title = await conn.fetchval(
            "SELECT title FROM conversations WHERE user_id = $1 AND id = $2",
            alice.user_id,
            alice.conversation_id,
        )
    assert title == "alice's chat"


async def test_only_the_application_role_may_use_the_schemas(owner: asyncpg.Connection) -> None:
    for row in await owner.fetch(COMPAT_SCHEMA_ACLS, list(COMPAT_SCHEMAS)):
        grantees = {entry.split("=", 1)[0] for entry in row["nspacl"]}
        assert "" not in grantees, f"PUBLIC may use schema {row['nspname']}"
        assert APP_ROLE in grantees
    for row in await owner.fetch(COMPAT_FUNCTIONS, list(COMPAT_SCHEMAS)):
        grantees = {entry.split("=", 1)[0] for entry in row["acl"]}
        assert "" not in grantees, f"PUBLIC may run {row['schema']}.{row['function']}"
        assert APP_ROLE in grantees
        # A caller's search_path cannot redirect the names the function uses.
        assert row["proconfig"] == ["search_path=pg_catalog"]


def documented_connection_options() -> str:
    """The query string of the example connection URL in docs/profiles.md."""
    text = PROFILES_DOC.read_text()
    section = text.split("## Compatibility schemas", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"postgresql://agentkeep_app:PASSWORD@HOST:5432/agentkeep\?(options=[^\s`]+)", section)
    assert match, "docs/profiles.md shows an example URL with options=...search_path"
    return match.group(1)


async def test_documented_connection_string_runs_a_seed_query(urls: DatabaseUrls, world: World) -> None:
    options = documented_connection_options()
    assert options == "options=-csearch_path%3Dkai"
    base = asyncpg_dsn(urls.app)
    dsn = f"{base}{'&' if '?' in base else '?'}{options}"
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SHOW search_path") == "kai"
        async with conn.transaction():
            await conn.execute(f"SET LOCAL agentkeep.user_id = '{world.alice.user_id}'")
            # 000:39 idx_kai_sessions_user, the seed's own names, no schema written.
            rows = await conn.fetch("SELECT * FROM kai_sessions WHERE user_id = $1", world.alice.user_id)
        assert [row["session_id"] for row in rows] == [world.alice.kai_session_id]
        async with conn.transaction():
            assert await conn.fetch("SELECT * FROM kai_sessions") == []  # no acting user
    finally:
        await conn.close()


@pytest.fixture
async def scratch(database_factory: Any) -> AsyncIterator[Database]:
    async with database_factory("agentkeep_scratch_compat") as scratch_urls:
        database = Database.from_urls(scratch_urls, schema=SCHEMA)
        yield database
        await database.close()


async def _compat_objects(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    conn = await asyncpg.connect(asyncpg_dsn(database.urls.owner))
    try:
        schemas = list(COMPAT_SCHEMAS)
        return {
            "schemas": [tuple(row) for row in await conn.fetch(COMPAT_SCHEMA_ACLS, schemas)],
            "views": [tuple(row) for row in await conn.fetch(COMPAT_VIEWS, schemas)],
            "functions": [tuple(row) for row in await conn.fetch(COMPAT_FUNCTIONS, schemas)],
        }
    finally:
        await conn.close()


async def test_revision_0003_goes_up_down_and_up_again(scratch: Database) -> None:
    await migrate.upgrade(scratch, "0003")
    after_up = await _compat_objects(scratch)
    assert len(after_up["schemas"]) == len(COMPAT_SCHEMAS)
    assert len(after_up["views"]) == len(REVISION_VIEWS)
    await migrate.downgrade(scratch, "0002")
    assert await _compat_objects(scratch) == {"schemas": [], "views": [], "functions": []}
    await migrate.upgrade(scratch, "0003")
    assert await _compat_objects(scratch) == after_up

"""The foundation schema serves the seed documents: one focused test per seed item group.

docs/seed-mapping.md names these tests, row by row. Every test runs against the real embedded
PostgreSQL as the application role (row-level security on), inside a transaction that is rolled
back, so the rows it writes never outlive it. Statements expected to fail run in a savepoint.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from asyncpg.exceptions import (
    CheckViolationError,
    ForeignKeyViolationError,
    InsufficientPrivilegeError,
    InvalidTextRepresentationError,
    RestrictViolationError,
    UniqueViolationError,
)

from agentkeep.agent_sessions.models import AgentSessionUpdate, NewAgentSession, StatusChange
from agentkeep.database import migrate
from agentkeep.database.doctor import run_checks
from agentkeep.errors import Conflict, InvalidInput, SessionExpired, StaleVersion
from agentkeep.ids import new_id, new_ids
from agentkeep.messages.models import NewMessage
from agentkeep.principal import Principal
from agentkeep.user_sessions.models import NewUserSession

# Tables created by the foundation revision (0001), by kind of tenancy.
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
FOUNDATION_TABLES = (*USER_TABLES, *CATALOG_TABLES, "service_keys")


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


@asynccontextmanager
async def savepoint(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """A nested transaction on a connection whose BEGIN asyncpg did not send itself."""
    await conn.execute("SAVEPOINT seed_test")
    try:
        yield
    except BaseException:
        await conn.execute("ROLLBACK TO SAVEPOINT seed_test")
        raise
    await conn.execute("RELEASE SAVEPOINT seed_test")


async def refused(
    conn: asyncpg.Connection, error: type[asyncpg.PostgresError], sql: str, *args: Any
) -> asyncpg.PostgresError:
    """Run ``sql`` expecting ``error``; the transaction stays usable afterwards."""
    with pytest.raises(error) as caught:
        async with savepoint(conn):
            await conn.execute(sql, *args)
    return caught.value


async def act_as(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """Switch the acting user for the rest of the transaction (as the SDK's BEGIN does)."""
    await conn.execute(f"SET LOCAL agentkeep.user_id = '{uuid.UUID(str(user_id))}'")


def sha256_bytes() -> bytes:
    return secrets.token_bytes(32)


def suffix() -> str:
    return uuid.uuid4().hex[:12]


async def add_user_row(conn: asyncpg.Connection, email: str | None = None) -> uuid.UUID:
    """Insert a users row inside the current transaction, acting as the new user."""
    user_id = new_id()
    await act_as(conn, user_id)
    await conn.execute(
        "INSERT INTO users (user_id, email) VALUES ($1, $2)",
        user_id,
        email or f"row-{suffix()}@example.com",
    )
    return user_id


async def add_user_session(conn: asyncpg.Connection, user_id: uuid.UUID, **columns: Any) -> uuid.UUID:
    session_id = new_id()
    values = {"token_hash": sha256_bytes()} | columns
    names = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(3, 3 + len(values)))
    await conn.execute(
        f"INSERT INTO user_sessions (user_id, id, expires_at, {names}) "
        f"VALUES ($1, $2, now() + interval '1 day', {params})",
        user_id,
        session_id,
        *values.values(),
    )
    return session_id


async def add_agent_session(conn: asyncpg.Connection, user_id: uuid.UUID, **columns: Any) -> uuid.UUID:
    session_id = new_id()
    values = {"agent_type": "coder"} | columns
    names = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(3, 3 + len(values)))
    await conn.execute(
        f"INSERT INTO agent_sessions (user_id, id, {names}) VALUES ($1, $2, {params})",
        user_id,
        session_id,
        *values.values(),
    )
    return session_id


async def add_conversation(conn: asyncpg.Connection, user_id: uuid.UUID, **columns: Any) -> uuid.UUID:
    conversation_id = new_id()
    names = "".join(f", {name}" for name in columns)
    params = "".join(f", ${i}" for i in range(3, 3 + len(columns)))
    await conn.execute(
        f"INSERT INTO conversations (user_id, id{names}) VALUES ($1, $2{params})",
        user_id,
        conversation_id,
        *columns.values(),
    )
    return conversation_id


async def add_message(
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    role: str = "user",
    content: str = "hello",
    **columns: Any,
) -> uuid.UUID:
    message_id = new_id()
    names = "".join(f", {name}" for name in columns)
    params = "".join(f", ${i}" for i in range(6, 6 + len(columns)))
    await conn.execute(
        f"INSERT INTO messages (user_id, id, conversation_id, role, content{names}) "
        f"VALUES ($1, $2, $3, $4, $5{params})",
        user_id,
        message_id,
        conversation_id,
        role,
        content,
        *columns.values(),
    )
    return message_id


async def add_agent(conn: asyncpg.Connection, name: str | None = None) -> uuid.UUID:
    """Needs a service principal: agents is a catalog."""
    agent_id = new_id()
    await conn.execute(
        "INSERT INTO agents (id, name, persona_type) VALUES ($1, $2, 'developer')",
        agent_id,
        name or f"agent-{suffix()}",
    )
    return agent_id


async def add_persona(
    conn: asyncpg.Connection, name: str | None = None, version: str = "1.0", **columns: Any
) -> uuid.UUID:
    """Needs a service principal: personas is a catalog."""
    persona_id = new_id()
    names = "".join(f", {name}" for name in columns)
    params = "".join(f", ${i}" for i in range(5, 5 + len(columns)))
    await conn.execute(
        f"INSERT INTO personas (id, persona_name, persona_version, specialization{names}) "
        f"VALUES ($1, $2, $3, $4{params})",
        persona_id,
        name or f"persona-{suffix()}",
        version,
        "architecture",
        *columns.values(),
    )
    return persona_id


async def add_persona_activation(
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    agent_session_id: uuid.UUID,
    persona_id: uuid.UUID,
    **columns: Any,
) -> uuid.UUID:
    activation_id = new_id()
    names = "".join(f", {name}" for name in columns)
    params = "".join(f", ${i}" for i in range(5, 5 + len(columns)))
    await conn.execute(
        "INSERT INTO persona_activations "
        f"(user_id, id, agent_session_id, persona_id, activation_trigger{names}) "
        f"VALUES ($1, $2, $3, $4, 'crisis'{params})",
        user_id,
        activation_id,
        agent_session_id,
        persona_id,
        *columns.values(),
    )
    return activation_id


async def count(conn: asyncpg.Connection, table: str, user_id: uuid.UUID) -> int:
    return int(await conn.fetchval(f"SELECT count(*) FROM {table} WHERE user_id = $1", user_id))


def plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes.extend(plan_nodes(child))
    return nodes


LATEST_MESSAGES = (
    "SELECT id, role, content FROM messages "
    "WHERE user_id = $1 AND conversation_id = $2 AND deleted_at IS NULL "
    "ORDER BY id DESC LIMIT 50"
)


async def add_messages_in_bulk(
    conn: asyncpg.Connection, user_id: uuid.UUID, conversation_id: uuid.UUID, how_many: int
) -> list[uuid.UUID]:
    """Multi-row INSERT from arrays (COPY is refused under row-level security)."""
    ids = new_ids(how_many)
    await conn.execute(
        "INSERT INTO messages (user_id, id, conversation_id, role, content) "
        "SELECT $1, m.id, $2, CASE WHEN m.n % 2 = 0 THEN 'user' ELSE 'assistant' END, "
        "'message ' || m.n FROM unnest($3::uuid[]) WITH ORDINALITY AS m(id, n)",
        user_id,
        conversation_id,
        ids,
    )
    return ids


# ---------------------------------------------------------------------------------------------
# users (seed 001 users, seed 004 users; seed 000 vault_keys' user_id; seed 003 auth.users)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "x@y.c", "two@@example.com", "sp ace@x.io"])
async def test_users_email_format_is_checked(as_app, email: str) -> None:
    user_id = new_id()
    async with as_app(Principal.user(user_id)) as conn:
        error = await refused(
            conn,
            CheckViolationError,
            "INSERT INTO users (user_id, email) VALUES ($1, $2)",
            user_id,
            email,
        )
        assert error.constraint_name == "ck_users_email_format"
        await conn.execute(
            "INSERT INTO users (user_id, email) VALUES ($1, $2)",
            user_id,
            "Jamie.R+ak@example.co.uk",
        )
        assert await count(conn, "users", user_id) == 1


async def test_users_email_is_unique_case_insensitively(as_app, make_user) -> None:
    """Uniqueness lives in user_emails, keyed by the lower-cased address (migration 0002)."""
    existing = await make_user()
    async with as_app(Principal.user(new_id())) as conn:
        other = new_id()
        await act_as(conn, other)
        error = await refused(
            conn,
            UniqueViolationError,
            "INSERT INTO user_emails (email, user_id) VALUES (lower($1), $2)",
            existing.email.upper(),
            other,
        )
        assert error.constraint_name == "pk_user_emails"
        # The holder stays hidden: another user sees no handle of theirs.
        assert await conn.fetchval("SELECT count(*) FROM user_emails") == 0


async def test_users_email_is_reusable_after_soft_delete(keep, make_user) -> None:
    email = f"gone-{suffix()}@example.com"
    first = await make_user(email=email)
    with pytest.raises(Conflict):
        await make_user(email=email.upper())
    await keep.users.delete(first.user_id)
    second = await make_user(email=email)
    assert second.email == email and second.user_id != first.user_id


async def test_users_username_is_unique_case_insensitively_and_optional(as_app, make_user) -> None:
    existing = await make_user()
    async with as_app(Principal.user(new_id())) as conn:
        other = new_id()
        await act_as(conn, other)
        error = await refused(
            conn,
            UniqueViolationError,
            "INSERT INTO user_usernames (username, user_id) VALUES (lower($1), $2)",
            existing.username.upper(),
            other,
        )
        assert error.constraint_name == "pk_user_usernames"
        # seed 004: username is optional; many users may have none.
        first = await add_user_row(conn)
        second = await add_user_row(conn)
        for user_id in (first, second):
            await act_as(conn, user_id)
            assert await conn.fetchval("SELECT username FROM users WHERE user_id = $1", user_id) is None
    assert (await make_user(username=None)).username is None
    assert (await make_user(username=None)).username is None


async def test_users_defaults_match_seeds(as_app) -> None:
    user_id = new_id()
    async with as_app(Principal.user(user_id)) as conn:
        await conn.execute(
            "INSERT INTO users (user_id, email) VALUES ($1, $2)",
            user_id,
            f"d-{suffix()}@example.com",
        )
        row = await conn.fetchrow("SELECT *, now() AS now FROM users WHERE user_id = $1", user_id)
    assert row["auth_provider"] == "local"
    assert row["timezone"] == "UTC"
    assert json.loads(row["preferences_json"]) == {}
    assert row["is_active"] is True
    assert row["version"] == 1
    assert row["created_at"] == row["updated_at"] == row["last_active_at"] == row["now"]
    assert row["deleted_at"] is None
    assert row["password_hash"] is None
    assert row["auth_external_id"] is None
    assert row["full_name"] is None


async def test_password_is_stored_as_argon2id_hash(as_app, make_user) -> None:
    """004 users.password_hash: only a hash is stored (Argon2id, by the SDK)."""
    password = "correct horse battery staple"
    user = await make_user(password=password)
    async with as_app(Principal.user(user.user_id)) as conn:
        stored = await conn.fetchval("SELECT password_hash FROM users WHERE user_id = $1", user.user_id)
    assert stored.startswith("$argon2id$")
    assert password not in stored


async def test_users_version_must_be_positive(as_app) -> None:
    user_id = new_id()
    async with as_app(Principal.user(user_id)) as conn:
        error = await refused(
            conn,
            CheckViolationError,
            "INSERT INTO users (user_id, email, version) VALUES ($1, $2, 0)",
            user_id,
            f"v-{suffix()}@example.com",
        )
        assert error.constraint_name == "ck_users_version_positive"


# ---------------------------------------------------------------------------------------------
# Indexes named in the seeds, under agentkeep's names
# ---------------------------------------------------------------------------------------------

# index name -> (table, text of pg_indexes.indexdef after "USING ")
SEED_INDEXES: dict[str, tuple[str, str]] = {
    "pk_users": ("users", "btree (user_id)"),
    "pk_user_emails": ("user_emails", "btree (email)"),
    "pk_user_usernames": ("user_usernames", "btree (username)"),
    "ix_users_active": ("users", "btree (is_active, last_active_at) WHERE (deleted_at IS NULL)"),
    "ix_users_auth_external": ("users", "btree (auth_provider, auth_external_id)"),
    "pk_user_sessions": ("user_sessions", "btree (user_id, id)"),
    "uq_user_sessions_user_id_token_hash": ("user_sessions", "btree (user_id, token_hash)"),
    "ix_user_sessions_user_id_status": ("user_sessions", "btree (user_id, status)"),
    "ix_user_sessions_active_activity": (
        "user_sessions",
        "btree (last_activity_at) WHERE ((status)::text = 'active'::text)",
    ),
    "ix_user_sessions_ended_at": ("user_sessions", "btree (ended_at) WHERE (ended_at IS NOT NULL)"),
    "pk_agent_sessions": ("agent_sessions", "btree (user_id, id)"),
    "ix_agent_sessions_user_created": ("agent_sessions", "btree (user_id, created_at)"),
    "ix_agent_sessions_status": ("agent_sessions", "btree (status)"),
    "ix_agent_sessions_created_at": ("agent_sessions", "btree (created_at)"),
    "ix_agent_sessions_agent_type": ("agent_sessions", "btree (agent_type)"),
    "ix_agent_sessions_token_cost": ("agent_sessions", "btree (token_cost)"),
    "ix_agent_sessions_agent_created": ("agent_sessions", "btree (agent_id, created_at)"),
    "ix_agent_sessions_user_session": ("agent_sessions", "btree (user_id, user_session_id)"),
    "ix_agent_sessions_active": (
        "agent_sessions",
        "btree (created_at, status) WHERE ((status)::text = ANY ((ARRAY["
        "'running'::character varying, 'pending_approval'::character varying, "
        "'approved'::character varying])::text[]))",
    ),
    "pk_agents": ("agents", "btree (id)"),
    "uq_agents_name": ("agents", "btree (name)"),
    "ix_agents_persona_type": ("agents", "btree (persona_type)"),
    "ix_agents_capabilities": ("agents", "gin (capabilities)"),
    "pk_personas": ("personas", "btree (id)"),
    "uq_personas_persona_name_persona_version": (
        "personas",
        "btree (persona_name, persona_version)",
    ),
    "ix_personas_is_active": ("personas", "btree (is_active)"),
    "ix_personas_is_core": ("personas", "btree (is_core)"),
    "ix_personas_priority_level": ("personas", "btree (priority_level)"),
    "ix_personas_specialization": ("personas", "btree (specialization)"),
    "pk_persona_activations": ("persona_activations", "btree (user_id, id)"),
    "ix_persona_activations_session": (
        "persona_activations",
        "btree (user_id, agent_session_id, activated_at)",
    ),
    "ix_persona_activations_persona_id": ("persona_activations", "btree (persona_id)"),
    "pk_conversations": ("conversations", "btree (user_id, id)"),
    "ix_conversations_user_listing": (
        "conversations",
        "btree (user_id, is_archived, id DESC) WHERE (deleted_at IS NULL)",
    ),
    "ix_conversations_created_at": ("conversations", "btree (created_at)"),
    "ix_conversations_agent_id": ("conversations", "btree (agent_id) WHERE (agent_id IS NOT NULL)"),
    "ix_conversations_agent_session": (
        "conversations",
        "btree (user_id, agent_session_id) WHERE (agent_session_id IS NOT NULL)",
    ),
    "ix_conversations_deleted_at": (
        "conversations",
        "btree (deleted_at) WHERE (deleted_at IS NOT NULL)",
    ),
    "pk_messages": ("messages", "btree (user_id, id)"),
    "uq_messages_conversation_order": ("messages", "btree (user_id, conversation_id, id)"),
    "ix_messages_parent": (
        "messages",
        "btree (user_id, conversation_id, parent_message_id) WHERE (parent_message_id IS NOT NULL)",
    ),
    "ix_messages_agent_session": (
        "messages",
        "btree (user_id, agent_session_id) WHERE (agent_session_id IS NOT NULL)",
    ),
    "ix_messages_agent_name": ("messages", "btree (agent_name) WHERE (agent_name IS NOT NULL)"),
    "ix_messages_role": ("messages", "btree (role)"),
    "ix_messages_created_at": ("messages", "btree (created_at)"),
}


@pytest.mark.parametrize("index_name", sorted(SEED_INDEXES))
async def test_seed_index_exists(owner, index_name: str) -> None:
    table, definition = SEED_INDEXES[index_name]
    row = await owner.fetchrow(
        "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public' AND indexname = $1",
        index_name,
    )
    assert row is not None, f"index {index_name} is missing"
    assert row["tablename"] == table
    assert row["indexdef"].split(" USING ", 1)[1] == definition
    is_unique = row["indexdef"].startswith("CREATE UNIQUE INDEX")
    assert is_unique == index_name.startswith(("pk_", "uq_"))


async def test_latest_messages_scan_conversation_order_index_backwards(as_app, make_user) -> None:
    """002's (session_id, created_at) index is served by (user_id, conversation_id, id)."""
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        conversation = await add_conversation(conn, user.user_id)
        other = await add_conversation(conn, user.user_id)
        ids = await add_messages_in_bulk(conn, user.user_id, conversation, 300)
        await add_messages_in_bulk(conn, user.user_id, other, 300)
        plan = json.loads(
            await conn.fetchval(f"EXPLAIN (FORMAT JSON) {LATEST_MESSAGES}", user.user_id, conversation)
        )[0]["Plan"]
        scans = [
            node for node in plan_nodes(plan) if node.get("Index Name") == "uq_messages_conversation_order"
        ]
        assert scans, json.dumps(plan, indent=1)
        assert scans[0]["Node Type"] in ("Index Scan", "Index Only Scan")
        assert scans[0]["Scan Direction"] == "Backward"
        assert not any(node["Node Type"] == "Sort" for node in plan_nodes(plan))
        rows = await conn.fetch(LATEST_MESSAGES, user.user_id, conversation)
    assert [row["id"] for row in rows] == sorted(ids, reverse=True)[:50]


async def test_latest_50_of_10000_messages_reads_only_those_50(as_app, make_user) -> None:
    """Seed 002 scenario: recent messages of a session come back fast (< 100 ms) at 10,000.

    Speed is measured by `make bench` (docs/benchmarks.md: about 0.65 ms through the SDK), not
    asserted by a timed test; what is asserted is why it is fast and stays fast: the read touches
    the 50 newest index entries and their rows, however long the conversation is.
    """
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        conversation = await add_conversation(conn, user.user_id)
        ids = await add_messages_in_bulk(conn, user.user_id, conversation, 10_000)
        await add_messages_in_bulk(conn, user.user_id, await add_conversation(conn, user.user_id), 2_000)
        plan = json.loads(
            await conn.fetchval(
                f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {LATEST_MESSAGES}", user.user_id, conversation
            )
        )[0]["Plan"]
        rows = await conn.fetch(LATEST_MESSAGES, user.user_id, conversation)
    assert [row["id"] for row in rows] == sorted(ids, reverse=True)[:50]
    scan = next(
        node for node in plan_nodes(plan) if node.get("Index Name") == "uq_messages_conversation_order"
    )
    assert scan["Scan Direction"] == "Backward"
    assert scan["Actual Rows"] * scan["Actual Loops"] == 50, "the scan read past the 50 it needed"
    touched = plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]
    assert touched < 200, f"{touched} buffers for 50 messages: the read does not stay small"


async def test_conversation_listing_is_an_index_scan_without_sort(as_app, make_user) -> None:
    """004's idx_conversations_user / idx_conversations_archived: newest first, no sort.

    ix_conversations_user_listing (user_id, is_archived, id DESC) WHERE deleted_at IS NULL serves
    the listing; with no statistics yet the planner may equally walk pk_conversations
    (user_id, id) backwards. Either way the order comes from an index, never from a sort.
    """
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        ids = new_ids(500)
        await conn.execute(
            "INSERT INTO conversations (user_id, id, is_archived) "
            "SELECT $1, c.id, c.n % 3 = 0 FROM unnest($2::uuid[]) WITH ORDINALITY AS c(id, n)",
            user.user_id,
            ids,
        )
        listing = (
            "SELECT id FROM conversations "
            "WHERE user_id = $1 AND is_archived = false AND deleted_at IS NULL "
            "ORDER BY id DESC LIMIT 20"
        )
        plan = json.loads(await conn.fetchval(f"EXPLAIN (FORMAT JSON) {listing}", user.user_id))[0]["Plan"]
        rows = await conn.fetch(listing, user.user_id)
    nodes = plan_nodes(plan)
    scans = [node for node in nodes if node.get("Relation Name") == "conversations"]
    assert len(scans) == 1, json.dumps(plan, indent=1)
    assert scans[0]["Node Type"] in ("Index Scan", "Index Only Scan")
    assert scans[0]["Index Name"] in ("ix_conversations_user_listing", "pk_conversations")
    assert not any(node["Node Type"] == "Sort" for node in nodes)
    not_archived = [row_id for n, row_id in enumerate(ids, start=1) if n % 3 != 0]
    assert [row["id"] for row in rows] == sorted(not_archived, reverse=True)[:20]


# ---------------------------------------------------------------------------------------------
# updated_at trigger (seed 004 update_updated_at_column, applied to every table)
# ---------------------------------------------------------------------------------------------

Builder = Callable[[asyncpg.Connection, uuid.UUID], Awaitable[tuple[str, tuple[Any, ...]]]]


async def _users_row(conn: asyncpg.Connection, user_id: uuid.UUID) -> tuple[str, tuple[Any, ...]]:
    return "user_id = $1", (user_id,)


async def _user_sessions_row(conn: asyncpg.Connection, user_id: uuid.UUID) -> tuple[str, tuple[Any, ...]]:
    return "user_id = $1 AND id = $2", (user_id, await add_user_session(conn, user_id))


async def _api_keys_row(conn: asyncpg.Connection, user_id: uuid.UUID) -> tuple[str, tuple[Any, ...]]:
    key_id = new_id()
    await conn.execute(
        "INSERT INTO api_keys (user_id, id, name, secret_hash) VALUES ($1, $2, 'ci', $3)",
        user_id,
        key_id,
        sha256_bytes(),
    )
    return "user_id = $1 AND id = $2", (user_id, key_id)


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
# agent_sessions (seed 001 agent_sessions, seed 002 agent_sessions, seed 000 kai_sessions)
# ---------------------------------------------------------------------------------------------


async def test_agent_sessions_defaults_match_seeds(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        session = await add_agent_session(conn, user.user_id)
        row = await conn.fetchrow(
            "SELECT *, now() AS now FROM agent_sessions WHERE user_id = $1 AND id = $2",
            user.user_id,
            session,
        )
    assert row["status"] == "initializing"
    assert row["trust_level"] == 0
    assert row["token_cost"] == Decimal("0")
    assert row["estimated_cost"] is None
    assert row["max_cost_limit"] is None
    assert json.loads(row["personas_active"]) == []
    for column in ("agent_config", "governance_state", "context", "metadata"):
        assert json.loads(row[column]) == {}
    assert row["error_details"] is None
    assert row["version"] == 1
    assert row["created_at"] == row["now"]
    assert row["started_at"] is None
    assert row["completed_at"] is None


@pytest.mark.parametrize(
    "status",
    [
        "initializing",
        "pending_approval",
        "approved",
        "running",
        "paused",
        "completed",
        "failed",
        "cancelled",
        "blocked",
    ],
)
async def test_agent_sessions_accept_seed_statuses(as_app, make_user, status: str) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        session = await add_agent_session(conn, user.user_id, status=status)
        stored = await conn.fetchval(
            "SELECT status FROM agent_sessions WHERE user_id = $1 AND id = $2",
            user.user_id,
            session,
        )
    assert stored == status


@pytest.mark.parametrize("status", ["active", "bogus", "RUNNING", ""])
async def test_agent_sessions_reject_unknown_status(as_app, make_user, status: str) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        error = await refused(
            conn,
            CheckViolationError,
            "INSERT INTO agent_sessions (user_id, id, agent_type, status) VALUES ($1, $2, 'x', $3)",
            user.user_id,
            new_id(),
            status,
        )
    assert error.constraint_name == "ck_agent_sessions_status_valid"


@pytest.mark.parametrize(
    ("trust_level", "accepted"),
    [(-1, False), (0, True), (2, True), (4, True), (5, False), (7, False)],
)
async def test_agent_sessions_trust_level_is_l0_to_l4(
    as_app, make_user, trust_level: int, accepted: bool
) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        sql = "INSERT INTO agent_sessions (user_id, id, agent_type, trust_level) VALUES ($1, $2, 'x', $3)"
        if accepted:
            await conn.execute(sql, user.user_id, new_id(), trust_level)
        else:
            error = await refused(conn, CheckViolationError, sql, user.user_id, new_id(), trust_level)
            assert error.constraint_name == "ck_agent_sessions_trust_level_valid"


@pytest.mark.parametrize("column", ["token_cost", "estimated_cost", "max_cost_limit"])
async def test_agent_sessions_cost_must_not_be_negative(as_app, make_user, column: str) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        error = await refused(
            conn,
            CheckViolationError,
            f"INSERT INTO agent_sessions (user_id, id, agent_type, {column}) VALUES ($1, $2, 'x', -0.0001)",
            user.user_id,
            new_id(),
        )
    assert error.constraint_name == "ck_agent_sessions_cost_valid"


async def test_agent_sessions_cost_above_max_cost_limit_is_rejected(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        session = await add_agent_session(
            conn, user.user_id, max_cost_limit=Decimal("1.5000"), estimated_cost=Decimal("0.7500")
        )
        update = "UPDATE agent_sessions SET token_cost = $3 WHERE user_id = $1 AND id = $2"
        assert await conn.execute(update, user.user_id, session, Decimal("1.5000")) == "UPDATE 1"
        error = await refused(conn, CheckViolationError, update, user.user_id, session, Decimal("1.5001"))
        assert error.constraint_name == "ck_agent_sessions_within_cost_limit"
        stored = await conn.fetchval(
            "SELECT token_cost FROM agent_sessions WHERE user_id = $1 AND id = $2",
            user.user_id,
            session,
        )
    assert stored == Decimal("1.5000")


async def test_agent_sessions_personas_active_must_be_an_array(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        await add_agent_session(conn, user.user_id, personas_active='["sarah-chen", "alex"]')
        error = await refused(
            conn,
            CheckViolationError,
            "INSERT INTO agent_sessions (user_id, id, agent_type, personas_active) "
            "VALUES ($1, $2, 'x', '{\"sarah-chen\": true}')",
            user.user_id,
            new_id(),
        )
    assert error.constraint_name == "ck_agent_sessions_personas_active_array"


REFUSED_TRANSITIONS = [
    ("initializing", "running"),  # seed 001: never run without passing approval
    ("pending_approval", "running"),
    ("completed", "running"),
    ("failed", "running"),
    ("cancelled", "approved"),
    ("blocked", "approved"),
    ("approved", "completed"),
    ("initializing", "paused"),
    ("completed", "paused"),
    ("running", "initializing"),
]


@pytest.mark.parametrize(
    ("old", "new"), REFUSED_TRANSITIONS, ids=[f"{a}-{b}" for a, b in REFUSED_TRANSITIONS]
)
async def test_agent_session_status_transition_refused(as_app, make_user, old: str, new: str) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        session = await add_agent_session(conn, user.user_id, status=old)
        error = await refused(
            conn,
            CheckViolationError,
            "UPDATE agent_sessions SET status = $3 WHERE user_id = $1 AND id = $2",
            user.user_id,
            session,
            new,
        )
        assert error.constraint_name == "agent_sessions_status_transition"
        row = await conn.fetchrow(
            "SELECT status, started_at FROM agent_sessions WHERE user_id = $1 AND id = $2",
            user.user_id,
            session,
        )
    assert row["status"] == old
    assert row["started_at"] is None


async def test_agent_session_status_path_sets_started_and_completed_at(as_app, make_user) -> None:
    """001's lifecycle with 002's session_state (active = running, paused, completed)."""
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        session = await add_agent_session(conn, user.user_id)
        now = await conn.fetchval("SELECT now()")

        async def move(status: str) -> asyncpg.Record:
            return await conn.fetchrow(
                "UPDATE agent_sessions SET status = $3 WHERE user_id = $1 AND id = $2 "
                "RETURNING status, started_at, completed_at",
                user.user_id,
                session,
                status,
            )

        for status in ("pending_approval", "approved"):
            row = await move(status)
            assert (row["status"], row["started_at"], row["completed_at"]) == (status, None, None)
        row = await move("running")
        assert row["started_at"] == now
        assert row["completed_at"] is None
        row = await move("paused")
        assert row["started_at"] == now
        assert row["completed_at"] is None
        row = await move("running")
        assert row["completed_at"] is None
        row = await move("completed")
        assert row["status"] == "completed"
        assert row["completed_at"] == now


@pytest.mark.parametrize(
    ("path", "final"),
    [
        (("cancelled",), "cancelled"),
        (("failed",), "failed"),
        (("pending_approval", "blocked"), "blocked"),
    ],
)
async def test_agent_session_ending_status_sets_completed_at(
    as_app, make_user, path: tuple[str, ...], final: str
) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        session = await add_agent_session(conn, user.user_id)
        for status in path:
            await conn.execute(
                "UPDATE agent_sessions SET status = $3 WHERE user_id = $1 AND id = $2",
                user.user_id,
                session,
                status,
            )
        row = await conn.fetchrow(
            "SELECT status, started_at, completed_at, now() AS now FROM agent_sessions "
            "WHERE user_id = $1 AND id = $2",
            user.user_id,
            session,
        )
    assert row["status"] == final
    assert row["completed_at"] == row["now"]
    assert row["started_at"] is None


async def test_agent_session_survives_its_user_session_deletion(as_app, make_user) -> None:
    """001 agent_sessions.session_id -> user_sessions: ON DELETE SET NULL (user_session_id)."""
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        login = await add_user_session(conn, user.user_id)
        session = await add_agent_session(conn, user.user_id, user_session_id=login)
        await conn.execute("DELETE FROM user_sessions WHERE user_id = $1 AND id = $2", user.user_id, login)
        row = await conn.fetchrow(
            "SELECT user_id, user_session_id FROM agent_sessions WHERE user_id = $1 AND id = $2",
            user.user_id,
            session,
        )
    assert row is not None
    assert row["user_id"] == user.user_id
    assert row["user_session_id"] is None


async def test_agent_session_cannot_use_another_users_login_session(as_app, make_user) -> None:
    alice, bob = await make_user(), await make_user()
    async with as_app(Principal.user(alice.user_id)) as conn:
        alices_login = await add_user_session(conn, alice.user_id)
        await act_as(conn, bob.user_id)
        error = await refused(
            conn,
            ForeignKeyViolationError,
            "INSERT INTO agent_sessions (user_id, id, agent_type, user_session_id) VALUES ($1, $2, 'x', $3)",
            bob.user_id,
            new_id(),
            alices_login,
        )
    assert error.constraint_name == "fk_agent_sessions_user_id_user_session_id_user_sessions"


async def test_agent_session_delete_keeps_conversation_and_messages(as_app, make_user) -> None:
    """002 conversation_history.session_id: the history outlives the session (SET NULL)."""
    user = await make_user()
    async with as_app(Principal.service(user.user_id)) as conn:
        session = await add_agent_session(conn, user.user_id)
        conversation = await add_conversation(conn, user.user_id, agent_session_id=session)
        message = await add_message(conn, user.user_id, conversation, agent_session_id=session)
        await add_persona_activation(conn, user.user_id, session, await add_persona(conn))
        await conn.execute("DELETE FROM agent_sessions WHERE user_id = $1 AND id = $2", user.user_id, session)
        conversation_link = await conn.fetchval(
            "SELECT agent_session_id FROM conversations WHERE user_id = $1 AND id = $2",
            user.user_id,
            conversation,
        )
        message_row = await conn.fetchrow(
            "SELECT conversation_id, agent_session_id FROM messages WHERE user_id = $1 AND id = $2",
            user.user_id,
            message,
        )
        activations = await count(conn, "persona_activations", user.user_id)
    assert conversation_link is None
    assert message_row["conversation_id"] == conversation
    assert message_row["agent_session_id"] is None
    assert activations == 0  # persona activations belong to the session: CASCADE


async def test_expired_agent_session_cannot_start_or_resume(keep, make_user) -> None:
    """Seed 002 scenario: an expired agent session is refused with a clear error (SDK)."""
    user = await make_user()
    expired = datetime.now(UTC) - timedelta(minutes=5)
    session = await keep.agent_sessions.create(
        user.user_id, NewAgentSession(agent_type="coder", expires_at=expired)
    )
    with pytest.raises(SessionExpired):
        await keep.agent_sessions.transition(user.user_id, session.id, StatusChange(status="approved"))
    assert (await keep.agent_sessions.get(user.user_id, session.id)).status == "initializing"
    cancelled = await keep.agent_sessions.transition(
        user.user_id, session.id, StatusChange(status="cancelled")
    )
    assert cancelled.status == "cancelled"
    assert cancelled.completed_at is not None


async def test_stale_version_update_is_refused(keep, make_user) -> None:
    """001/002 optimistic locking: an update naming a version someone else moved on is refused."""
    user = await make_user()
    session = await keep.agent_sessions.create(user.user_id, NewAgentSession(agent_type="coder"))
    assert session.version == 1
    first = await keep.agent_sessions.update(
        user.user_id, session.id, AgentSessionUpdate(version=1, context={"step": 1})
    )
    assert first.version == 2
    with pytest.raises(StaleVersion):
        await keep.agent_sessions.update(
            user.user_id, session.id, AgentSessionUpdate(version=1, context={"step": "lost"})
        )
    current = await keep.agent_sessions.get(user.user_id, session.id)
    assert (current.version, current.context) == (2, {"step": 1})


async def test_context_carries_across_agent_sessions(keep, make_user) -> None:
    """002 "context maintenance across sessions": a new session can start from the last one's."""
    user = await make_user()
    first = await keep.agent_sessions.create(
        user.user_id,
        NewAgentSession(agent_type="architect", context={"repo": "agentkeep", "style": "terse"}),
    )
    await keep.agent_sessions.create(
        user.user_id, NewAgentSession(agent_type="qa", context={"repo": "other"})
    )
    second = await keep.agent_sessions.create(
        user.user_id,
        NewAgentSession(agent_type="architect", context={"style": "verbose"}, carry_context=True),
    )
    assert first.id != second.id
    assert second.context == {"repo": "agentkeep", "style": "verbose"}


# ---------------------------------------------------------------------------------------------
# agents and personas (seed 002 agents, seed 001 personas / persona_activations)
# ---------------------------------------------------------------------------------------------


async def test_agents_defaults_and_unique_name(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.service(user.user_id)) as conn:
        name = f"kai-{suffix()}"
        agent = await add_agent(conn, name)
        row = await conn.fetchrow("SELECT * FROM agents WHERE id = $1", agent)
        error = await refused(
            conn,
            UniqueViolationError,
            "INSERT INTO agents (id, name, persona_type) VALUES ($1, $2, 'qa')",
            new_id(),
            name,
        )
    assert error.constraint_name == "uq_agents_name"
    assert json.loads(row["capabilities"]) == {}
    assert json.loads(row["config"]) == {}
    assert row["is_active"] is True
    assert row["version"] == 1


async def test_agents_in_use_cannot_be_deleted(as_app, make_user) -> None:
    """002: explicit RESTRICT from sessions (and conversations) to agents."""
    user = await make_user()
    async with as_app(Principal.service(user.user_id)) as conn:
        used_by_session = await add_agent(conn)
        await add_agent_session(conn, user.user_id, agent_id=used_by_session)
        used_by_conversation = await add_agent(conn)
        await add_conversation(conn, user.user_id, agent_id=used_by_conversation)
        unused = await add_agent(conn)
        session_error = await refused(
            conn, RestrictViolationError, "DELETE FROM agents WHERE id = $1", used_by_session
        )
        conversation_error = await refused(
            conn, RestrictViolationError, "DELETE FROM agents WHERE id = $1", used_by_conversation
        )
        assert await conn.execute("DELETE FROM agents WHERE id = $1", unused) == "DELETE 1"
    assert session_error.constraint_name == "fk_agent_sessions_agent_id_agents"
    assert conversation_error.constraint_name == "fk_conversations_agent_id_agents"


@pytest.mark.parametrize("table", CATALOG_TABLES)
async def test_catalogs_are_read_by_all_and_written_by_service_only(as_app, make_user, table: str) -> None:
    user = await make_user()
    insert = {
        "agents": "INSERT INTO agents (id, name, persona_type) VALUES ($1, $2, 'qa')",
        "personas": "INSERT INTO personas (id, persona_name, persona_version, specialization) "
        "VALUES ($1, $2, '1.0', 'qa')",
    }[table]
    async with as_app(Principal.user(user.user_id)) as conn:
        await refused(conn, InsufficientPrivilegeError, insert, new_id(), f"x-{suffix()}")
    async with as_app(Principal.service(user.user_id)) as conn:
        row_id = new_id()
        await conn.execute(insert, row_id, f"x-{suffix()}")
        assert await conn.fetchval(f"SELECT count(*) FROM {table} WHERE id = $1", row_id) == 1
        # Seen by another user in the same transaction (read policy is USING (true)).
        await act_as(conn, new_id())
        await conn.execute("SET LOCAL agentkeep.principal = ''")
        assert await conn.fetchval(f"SELECT count(*) FROM {table} WHERE id = $1", row_id) == 1
        assert await conn.execute(f"DELETE FROM {table} WHERE id = $1", row_id) == "DELETE 0"


@pytest.mark.parametrize(
    ("priority", "accepted"), [(0, False), (1, True), (5, True), (10, True), (11, False)]
)
async def test_personas_priority_level_between_1_and_10(
    as_app, make_user, priority: int, accepted: bool
) -> None:
    user = await make_user()
    async with as_app(Principal.service(user.user_id)) as conn:
        if accepted:
            persona = await add_persona(conn, priority_level=priority)
            assert (
                await conn.fetchval("SELECT priority_level FROM personas WHERE id = $1", persona) == priority
            )
        else:
            error = await refused(
                conn,
                CheckViolationError,
                "INSERT INTO personas "
                "(id, persona_name, persona_version, specialization, priority_level) "
                "VALUES ($1, $2, '1.0', 'qa', $3)",
                new_id(),
                f"p-{suffix()}",
                priority,
            )
            assert error.constraint_name == "ck_personas_priority_valid"


async def test_personas_name_and_version_are_unique_together(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.service(user.user_id)) as conn:
        name = f"Dr. Sarah Chen {suffix()}"
        first = await add_persona(conn, name, "1.2")
        row = await conn.fetchrow("SELECT * FROM personas WHERE id = $1", first)
        await add_persona(conn, name, "1.3")  # a new version of the same persona
        error = await refused(
            conn,
            UniqueViolationError,
            "INSERT INTO personas (id, persona_name, persona_version, specialization) "
            "VALUES ($1, $2, '1.2', 'qa')",
            new_id(),
            name,
        )
    assert error.constraint_name == "uq_personas_persona_name_persona_version"
    assert row["priority_level"] == 5
    assert row["is_active"] is True
    assert row["is_core"] is False
    for column in ("capabilities", "activation_rules", "crisis_scenarios", "behavioral_patterns"):
        assert json.loads(row[column]) == {}


async def test_persona_activations_belong_to_the_users_agent_session(as_app, make_user) -> None:
    alice, bob = await make_user(), await make_user()
    async with as_app(Principal.service(alice.user_id)) as conn:
        persona = await add_persona(conn)
        alices_session = await add_agent_session(conn, alice.user_id)
        activation = await add_persona_activation(
            conn,
            alice.user_id,
            alices_session,
            persona,
            activation_context='{"reason": "incident"}',
        )
        row = await conn.fetchrow(
            "SELECT activated_at, deactivated_at, results, now() AS now FROM persona_activations "
            "WHERE user_id = $1 AND id = $2",
            alice.user_id,
            activation,
        )
        assert row["activated_at"] == row["now"]
        assert row["deactivated_at"] is None
        assert row["results"] is None
        error = await refused(
            conn,
            CheckViolationError,
            "UPDATE persona_activations SET deactivated_at = activated_at - interval '1 second' "
            "WHERE user_id = $1 AND id = $2",
            alice.user_id,
            activation,
        )
        assert error.constraint_name == "ck_persona_activations_deactivated_after"
        await act_as(conn, bob.user_id)
        error = await refused(
            conn,
            ForeignKeyViolationError,
            "INSERT INTO persona_activations "
            "(user_id, id, agent_session_id, persona_id, activation_trigger) "
            "VALUES ($1, $2, $3, $4, 'x')",
            bob.user_id,
            new_id(),
            alices_session,
            persona,
        )
    assert error.constraint_name == "fk_persona_activations_user_id_agent_session_id_agent_sessions"


async def test_personas_in_use_cannot_be_deleted(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.service(user.user_id)) as conn:
        persona = await add_persona(conn)
        await add_persona_activation(conn, user.user_id, await add_agent_session(conn, user.user_id), persona)
        error = await refused(conn, RestrictViolationError, "DELETE FROM personas WHERE id = $1", persona)
    assert error.constraint_name == "fk_persona_activations_persona_id_personas"


# ---------------------------------------------------------------------------------------------
# conversations and messages (004 conversations/messages, 002 conversation_history,
# 003 ai_conversations)
# ---------------------------------------------------------------------------------------------


async def test_conversations_defaults_and_usage_columns(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        conversation = await add_conversation(conn, user.user_id)
        row = await conn.fetchrow(
            "SELECT * FROM conversations WHERE user_id = $1 AND id = $2", user.user_id, conversation
        )
        assert row["is_archived"] is False
        assert json.loads(row["metadata"]) == {}
        assert (row["tokens_used"], row["cost_usd"], row["version"]) == (0, Decimal("0"), 1)
        assert (row["title"], row["model_used"], row["deleted_at"]) == (None, None, None)
        stored = await conn.fetchrow(
            "UPDATE conversations SET tokens_used = 1234, cost_usd = 0.012345, "
            "model_used = 'gpt-4o-mini' "
            "WHERE user_id = $1 AND id = $2 RETURNING tokens_used, cost_usd, model_used",
            user.user_id,
            conversation,
        )
        assert tuple(stored) == (1234, Decimal("0.012345"), "gpt-4o-mini")
        for column in ("tokens_used", "cost_usd"):
            error = await refused(
                conn,
                CheckViolationError,
                f"UPDATE conversations SET {column} = -1 WHERE user_id = $1 AND id = $2",
                user.user_id,
                conversation,
            )
            assert error.constraint_name == "ck_conversations_usage_non_negative"
        error = await refused(
            conn,
            CheckViolationError,
            "UPDATE conversations SET metadata = '[\"tag\"]' WHERE user_id = $1 AND id = $2",
            user.user_id,
            conversation,
        )
        assert error.constraint_name == "ck_conversations_metadata_object"


@pytest.mark.parametrize(
    ("role", "accepted"),
    [
        ("user", True),
        ("assistant", True),
        ("system", True),
        ("tool", True),
        ("agent", False),
        ("bot", False),
    ],
)
async def test_messages_role_is_checked(as_app, make_user, role: str, accepted: bool) -> None:
    """002's role 'agent' is stored as 'assistant' by the SDK; the database refuses 'agent'."""
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        conversation = await add_conversation(conn, user.user_id)
        if accepted:
            message = await add_message(conn, user.user_id, conversation, role=role)
            stored = await conn.fetchval(
                "SELECT role FROM messages WHERE user_id = $1 AND id = $2", user.user_id, message
            )
            assert stored == role
        else:
            error = await refused(
                conn,
                CheckViolationError,
                "INSERT INTO messages (user_id, id, conversation_id, role, content) "
                "VALUES ($1, $2, $3, $4, 'x')",
                user.user_id,
                new_id(),
                conversation,
                role,
            )
            assert error.constraint_name == "ck_messages_role_valid"


async def test_role_agent_is_stored_as_assistant(keep, as_app, make_user) -> None:
    """Seed 002's role 'agent' is accepted by the SDK and stored as 'assistant'."""
    user = await make_user()
    chat = await keep.conversations.create(user.user_id)
    message = await keep.messages.append(
        user.user_id, chat.id, NewMessage(role="agent", content="Refactor done.")
    )
    assert message.role == "assistant"
    async with as_app(Principal.user(user.user_id)) as conn:
        stored = await conn.fetchval(
            "SELECT role FROM messages WHERE user_id = $1 AND id = $2", user.user_id, message.id
        )
    assert stored == "assistant"


async def test_messages_type_token_count_and_defaults(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        conversation = await add_conversation(conn, user.user_id)
        plain = await add_message(conn, user.user_id, conversation)
        row = await conn.fetchrow(
            "SELECT *, now() AS now FROM messages WHERE user_id = $1 AND id = $2",
            user.user_id,
            plain,
        )
        assert row["message_type"] == "text"
        assert json.loads(row["metadata"]) == {}
        assert row["created_at"] == row["updated_at"] == row["now"]
        for message_type in ("code", "command", "file"):
            await add_message(conn, user.user_id, conversation, message_type=message_type)
        await add_message(conn, user.user_id, conversation, token_count=0, model_used="claude-opus-4-1")
        insert = (
            "INSERT INTO messages (user_id, id, conversation_id, role, content, {column}) "
            "VALUES ($1, $2, $3, 'user', 'x', $4)"
        )
        error = await refused(
            conn,
            CheckViolationError,
            insert.format(column="message_type"),
            user.user_id,
            new_id(),
            conversation,
            "video",
        )
        assert error.constraint_name == "ck_messages_message_type_valid"
        error = await refused(
            conn,
            CheckViolationError,
            insert.format(column="token_count"),
            user.user_id,
            new_id(),
            conversation,
            -1,
        )
        assert error.constraint_name == "ck_messages_token_count_non_negative"


async def test_messages_store_reasoning_trace_and_ethical_validation(as_app, make_user) -> None:
    """004's JSONB examples round-trip and are queryable by path."""
    reasoning_trace = {
        "sub_agents": [
            {"name": "TraitAnalyzer", "output": "Elevated stress markers", "confidence": 0.82},
            {"name": "ContextBuilder", "output": "Work pressure theme", "confidence": 0.91},
        ],
        "synthesis": "Recommend schedule adjustment with high confidence",
    }
    ethical_validation = {
        "othello_version": "1.0.2",
        "checks_performed": ["consent_tier", "harm_potential", "privacy_boundary"],
        "overall": "cleared",
    }
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        conversation = await add_conversation(conn, user.user_id, title="Deadline stress")
        message = await add_message(
            conn,
            user.user_id,
            conversation,
            role="assistant",
            agent_name="FELLO",
            token_count=87,
            reasoning_trace=json.dumps(reasoning_trace),
            ethical_validation=json.dumps(ethical_validation),
        )
        row = await conn.fetchrow(
            "SELECT agent_name, token_count, reasoning_trace->'sub_agents'->1->>'name' AS second, "
            "(ethical_validation->>'overall') AS overall, reasoning_trace, ethical_validation "
            "FROM messages WHERE user_id = $1 AND id = $2 "
            'AND ethical_validation @> \'{"overall": "cleared"}\'',
            user.user_id,
            message,
        )
    assert row is not None
    assert (row["agent_name"], row["token_count"], row["second"], row["overall"]) == (
        "FELLO",
        87,
        "ContextBuilder",
        "cleared",
    )
    assert json.loads(row["reasoning_trace"]) == reasoning_trace
    assert json.loads(row["ethical_validation"]) == ethical_validation


async def test_message_parent_must_be_in_the_same_conversation(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        conversation = await add_conversation(conn, user.user_id)
        elsewhere = await add_conversation(conn, user.user_id)
        parent = await add_message(conn, user.user_id, conversation)
        reply = await add_message(
            conn, user.user_id, conversation, role="assistant", parent_message_id=parent
        )
        error = await refused(
            conn,
            ForeignKeyViolationError,
            "INSERT INTO messages (user_id, id, conversation_id, role, content, parent_message_id) "
            "VALUES ($1, $2, $3, 'user', 'x', $4)",
            user.user_id,
            new_id(),
            elsewhere,
            parent,
        )
        assert error.constraint_name == "fk_messages_user_id_conversation_id_parent_message_id_messages"
        own_id = new_id()
        error = await refused(
            conn,
            CheckViolationError,
            "INSERT INTO messages (user_id, id, conversation_id, role, content, parent_message_id) "
            "VALUES ($1, $2, $3, 'user', 'x', $2)",
            user.user_id,
            own_id,
            conversation,
        )
        assert error.constraint_name == "ck_messages_not_own_parent"
        # Deleting the parent keeps the reply in its conversation, unthreaded.
        await conn.execute("DELETE FROM messages WHERE user_id = $1 AND id = $2", user.user_id, parent)
        row = await conn.fetchrow(
            "SELECT conversation_id, parent_message_id FROM messages WHERE user_id = $1 AND id = $2",
            user.user_id,
            reply,
        )
    assert row["conversation_id"] == conversation
    assert row["parent_message_id"] is None


async def test_message_parent_of_another_user_is_rejected(as_app, make_user) -> None:
    alice, bob = await make_user(), await make_user()
    async with as_app(Principal.user(alice.user_id)) as conn:
        conversation = await add_conversation(conn, alice.user_id)
        alices_message = await add_message(conn, alice.user_id, conversation)
        await act_as(conn, bob.user_id)
        bobs_conversation = await add_conversation(conn, bob.user_id)
        error = await refused(
            conn,
            ForeignKeyViolationError,
            "INSERT INTO messages (user_id, id, conversation_id, role, content, parent_message_id) "
            "VALUES ($1, $2, $3, 'user', 'x', $4)",
            bob.user_id,
            new_id(),
            bobs_conversation,
            alices_message,
        )
        assert error.constraint_name == "fk_messages_user_id_conversation_id_parent_message_id_messages"
        error = await refused(
            conn,
            ForeignKeyViolationError,
            "INSERT INTO messages (user_id, id, conversation_id, role, content) "
            "VALUES ($1, $2, $3, 'user', 'x')",
            bob.user_id,
            new_id(),
            conversation,
        )
    assert error.constraint_name == "fk_messages_user_id_conversation_id_conversations"


async def test_conversation_delete_cascades_to_messages(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        conversation = await add_conversation(conn, user.user_id)
        kept = await add_conversation(conn, user.user_id)
        await add_messages_in_bulk(conn, user.user_id, conversation, 5)
        await add_messages_in_bulk(conn, user.user_id, kept, 3)
        await conn.execute(
            "DELETE FROM conversations WHERE user_id = $1 AND id = $2", user.user_id, conversation
        )
        remaining = await conn.fetch(
            "SELECT conversation_id, count(*) AS n FROM messages WHERE user_id = $1 GROUP BY 1",
            user.user_id,
        )
    assert [(row["conversation_id"], row["n"]) for row in remaining] == [(kept, 3)]


async def test_user_delete_cascades_to_every_user_table(as_app, make_user) -> None:
    """004: ON DELETE CASCADE from users reaches conversations and messages (and the rest)."""
    user = await make_user()
    async with as_app(Principal.service(user.user_id)) as conn:
        await _api_keys_row(conn, user.user_id)
        login = await add_user_session(conn, user.user_id)
        session = await add_agent_session(conn, user.user_id, user_session_id=login)
        await add_persona_activation(conn, user.user_id, session, await add_persona(conn))
        conversation = await add_conversation(conn, user.user_id, agent_session_id=session)
        parent = await add_message(conn, user.user_id, conversation)
        await add_message(
            conn, user.user_id, conversation, parent_message_id=parent, agent_session_id=session
        )
        before = {table: await count(conn, table, user.user_id) for table in USER_TABLES}
        assert all(before.values()), before
        assert await conn.execute("DELETE FROM users WHERE user_id = $1", user.user_id) == "DELETE 1"
        after = {table: await count(conn, table, user.user_id) for table in USER_TABLES}
    assert after == dict.fromkeys(USER_TABLES, 0)


# ---------------------------------------------------------------------------------------------
# user_sessions (001 user_sessions, 004 session_logs, 000 session_tokens)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["203.0.113.7", "2001:db8::1", "::ffff:192.0.2.10"])
async def test_user_sessions_ip_address_is_inet(as_app, make_user, address: str) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        login = await add_user_session(conn, user.user_id, ip_address=address, user_agent="Mozilla/5.0")
        row = await conn.fetchrow(
            "SELECT host(ip_address) AS host, family(ip_address) AS family, user_agent "
            "FROM user_sessions WHERE user_id = $1 AND id = $2",
            user.user_id,
            login,
        )
        await refused(
            conn,
            InvalidTextRepresentationError,
            "INSERT INTO user_sessions (user_id, id, token_hash, expires_at, ip_address) "
            "VALUES ($1, $2, $3, now() + interval '1 hour', $4::text::inet)",
            user.user_id,
            new_id(),
            sha256_bytes(),
            "not-an-ip",
        )
    assert row["host"] == address
    assert row["family"] == (6 if ":" in address else 4)
    assert row["user_agent"] == "Mozilla/5.0"


async def test_user_sessions_store_only_a_sha256_of_the_token(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        token_hash = sha256_bytes()
        await add_user_session(conn, user.user_id, token_hash=token_hash)
        sql = (
            "INSERT INTO user_sessions (user_id, id, token_hash, expires_at) "
            "VALUES ($1, $2, $3, now() + interval '1 hour')"
        )
        error = await refused(conn, UniqueViolationError, sql, user.user_id, new_id(), token_hash)
        assert error.constraint_name == "uq_user_sessions_user_id_token_hash"
        for not_a_digest in (b"raw-session-token", secrets.token_bytes(64)):
            error = await refused(conn, CheckViolationError, sql, user.user_id, new_id(), not_a_digest)
            assert error.constraint_name == "ck_user_sessions_token_hash_sha256"


async def test_user_sessions_defaults_match_seeds(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        login = await add_user_session(conn, user.user_id)
        row = await conn.fetchrow(
            "SELECT *, now() AS now FROM user_sessions WHERE user_id = $1 AND id = $2",
            user.user_id,
            login,
        )
    assert row["status"] == "active"
    assert row["session_type"] == "interactive"
    assert json.loads(row["session_context"]) == {}
    assert row["started_at"] == row["last_activity_at"] == row["now"]
    assert row["ended_at"] is None
    assert row["expires_at"] > row["started_at"]
    assert row["version"] == 1


@pytest.mark.parametrize(
    ("status", "ended", "constraint"),
    [
        ("ended", False, "ck_user_sessions_ended_iff_not_active"),
        ("expired", False, "ck_user_sessions_ended_iff_not_active"),
        ("active", True, "ck_user_sessions_ended_iff_not_active"),
        ("logged_in", True, "ck_user_sessions_status_valid"),
    ],
)
async def test_user_sessions_status_and_ended_at_agree(
    as_app, make_user, status: str, ended: bool, constraint: str
) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        error = await refused(
            conn,
            CheckViolationError,
            "INSERT INTO user_sessions (user_id, id, token_hash, expires_at, status, ended_at) "
            "VALUES ($1, $2, $3, now() + interval '1 hour', $4, CASE WHEN $5 THEN now() END)",
            user.user_id,
            new_id(),
            sha256_bytes(),
            status,
            ended,
        )
        assert error.constraint_name == constraint
        # The legal pairs: logout sets ended_at with the status.
        login = await add_user_session(conn, user.user_id)
        result = await conn.execute(
            "UPDATE user_sessions SET status = 'ended', ended_at = now() WHERE user_id = $1 AND id = $2",
            user.user_id,
            login,
        )
    assert result == "UPDATE 1"


async def test_user_sessions_expire_after_they_start(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        error = await refused(
            conn,
            CheckViolationError,
            "INSERT INTO user_sessions (user_id, id, token_hash, expires_at) VALUES ($1, $2, $3, now())",
            user.user_id,
            new_id(),
            sha256_bytes(),
        )
    assert error.constraint_name == "ck_user_sessions_expires_after_start"


async def test_expired_user_session_token_is_refused(keep, database, make_user) -> None:
    """004 "expire inactive sessions": an overdue token is refused and the session marked."""
    user = await make_user()
    started = await keep.user_sessions.start(
        user.user_id, NewUserSession(ip_address="2001:db8::2", user_agent="pytest")
    )
    assert (await keep.user_sessions.touch(user.user_id, started.token)).status == "active"
    async with database.transaction(Principal.user(user.user_id)) as tx:
        await tx.driver.execute(
            "UPDATE user_sessions SET started_at = now() - interval '2 hours', "
            "last_activity_at = now() - interval '2 hours', expires_at = now() - interval '1 hour' "
            "WHERE user_id = $1 AND id = $2",
            user.user_id,
            started.session.id,
        )
    with pytest.raises(SessionExpired):
        await keep.user_sessions.touch(user.user_id, started.token)
    after = await keep.user_sessions.get(user.user_id, started.session.id)
    assert after.status == "expired"
    assert after.ended_at is not None
    assert after.ip_address == "2001:db8::2"


# ---------------------------------------------------------------------------------------------
# Row-level security (001 policies, 003 policies, 004 security notes)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", [*USER_TABLES, *CATALOG_TABLES])
async def test_rls_policies_exist(owner, table: str) -> None:
    """003's validation query on pg_policies, for agentkeep's tables."""
    flags = await owner.fetchrow(
        "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = $1::regclass", table
    )
    assert (flags["relrowsecurity"], flags["relforcerowsecurity"]) == (True, True)
    policies = {
        row["policyname"]: row["cmd"]
        for row in await owner.fetch(
            "SELECT policyname, cmd FROM pg_policies WHERE schemaname = 'public' AND tablename = $1",
            table,
        )
    }
    if table in USER_TABLES:
        assert policies == {f"{table}_tenant": "ALL"}
    else:
        assert policies == {
            f"{table}_read": "SELECT",
            f"{table}_insert": "INSERT",
            f"{table}_update": "UPDATE",
            f"{table}_delete": "DELETE",
        }


async def test_rls_hides_other_users_rows(as_app, make_user) -> None:
    alice, bob = await make_user(), await make_user()
    async with as_app(Principal.user(alice.user_id)) as conn:
        session = await add_agent_session(conn, alice.user_id)
        conversation = await add_conversation(conn, alice.user_id, agent_session_id=session)
        await add_message(conn, alice.user_id, conversation)
        await add_user_session(conn, alice.user_id)
        await act_as(conn, bob.user_id)
        for table in USER_TABLES:
            assert await count(conn, table, alice.user_id) == 0, table
        assert await conn.fetchval("SELECT count(*) FROM users") == 1  # only bob himself
        assert (
            await conn.execute("UPDATE conversations SET title = 'mine' WHERE id = $1", conversation)
            == "UPDATE 0"
        )
        assert await conn.execute("DELETE FROM agent_sessions WHERE id = $1", session) == "DELETE 0"
        await act_as(conn, alice.user_id)
        assert await count(conn, "messages", alice.user_id) == 1
        assert (
            await conn.fetchval(
                "SELECT title FROM conversations WHERE user_id = $1 AND id = $2",
                alice.user_id,
                conversation,
            )
            is None
        )


async def test_rls_refuses_writing_rows_of_another_user(as_app, make_user) -> None:
    alice, bob = await make_user(), await make_user()
    async with as_app(Principal.user(alice.user_id)) as conn:
        await refused(
            conn,
            InsufficientPrivilegeError,
            "INSERT INTO conversations (user_id, id) VALUES ($1, $2)",
            bob.user_id,
            new_id(),
        )
        conversation = await add_conversation(conn, alice.user_id)
        await refused(
            conn,
            InsufficientPrivilegeError,
            "UPDATE conversations SET user_id = $2 WHERE user_id = $1 AND id = $3",
            alice.user_id,
            bob.user_id,
            conversation,
        )


@pytest.mark.parametrize("principal", [None, "service"])
async def test_rls_fails_closed_without_an_acting_user(as_app, make_user, principal: str | None) -> None:
    await make_user()
    async with as_app(Principal.service() if principal else None) as conn:
        for table in USER_TABLES:
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
        await refused(
            conn,
            InsufficientPrivilegeError,
            "INSERT INTO users (user_id, email) VALUES ($1, $2)",
            new_id(),
            f"n-{suffix()}@example.com",
        )


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
        list(FOUNDATION_TABLES),
    )
    keys = {row["table_name"]: (list(row["columns"]), set(row["types"])) for row in rows}
    assert keys.pop("users") == (["user_id"], {"uuid"})
    for table in USER_TABLES[1:]:
        assert keys.pop(table) == (["user_id", "id"], {"uuid"}), table
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

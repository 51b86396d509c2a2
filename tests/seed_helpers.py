"""Shared helpers of the seed-schema tests (tests/test_seed_*.py).

Every helper runs raw SQL on a connection the test opened with the ``as_app`` fixture (the
application role, row-level security on, inside a transaction that is rolled back), so the
rows it writes never outlive the test. Statements expected to fail run in a savepoint.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from agentkeep.database import migrate
from agentkeep.ids import new_id, new_ids
from agentkeep.schema import tables_by_tenancy

# Derived, never listed by hand: a table added to the schema is checked by every seed test.
# The audit trail is user tenancy too, but keyed (user_id, seq), append-only and outliving its
# user: the tests of the user tables' shape leave it out (tests/test_audit_* cover it).
AUDIT_TABLES = tuple(table.name for table in tables_by_tenancy("user") if table.name.startswith("audit_"))
USER_TABLES = tuple(table.name for table in tables_by_tenancy("user") if table.name not in AUDIT_TABLES)
CATALOG_TABLES = tuple(table.name for table in tables_by_tenancy("catalog"))
# What the foundation revision says it creates (`migrate status` shows the same list).
FOUNDATION_TABLES = next(r.creates_tables for r in migrate.history() if r.revision == "0001")


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


async def insert_row(conn: asyncpg.Connection, table: str, values: dict[str, Any]) -> None:
    """INSERT one row of ``values``; the names are the tests' own column names, values go as parameters."""
    names = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, 1 + len(values)))
    await conn.execute(f"INSERT INTO {table} ({names}) VALUES ({params})", *values.values())


async def add_user_session(conn: asyncpg.Connection, user_id: uuid.UUID, **columns: Any) -> uuid.UUID:
    session_id = new_id()
    expires_at = datetime.now(UTC) + timedelta(days=1)
    values = {"user_id": user_id, "id": session_id, "expires_at": expires_at, "token_hash": sha256_bytes()}
    await insert_row(conn, "user_sessions", values | columns)
    return session_id


async def add_agent_session(conn: asyncpg.Connection, user_id: uuid.UUID, **columns: Any) -> uuid.UUID:
    session_id = new_id()
    await insert_row(
        conn, "agent_sessions", {"user_id": user_id, "id": session_id, "agent_type": "developer"} | columns
    )
    return session_id


async def add_decision(conn: asyncpg.Connection, user_id: uuid.UUID, **columns: Any) -> uuid.UUID:
    decision_id = new_id()
    await insert_row(
        conn, "decisions", {"user_id": user_id, "id": decision_id, "decision_type": "buy"} | columns
    )
    return decision_id


async def add_onboarding(conn: asyncpg.Connection, user_id: uuid.UUID, agent_session_id: uuid.UUID) -> None:
    values = {"user_id": user_id, "agent_session_id": agent_session_id, "processing_mode": "hybrid"}
    await insert_row(conn, "onboarding_answers", values)


async def add_conversation(conn: asyncpg.Connection, user_id: uuid.UUID, **columns: Any) -> uuid.UUID:
    conversation_id = new_id()
    await insert_row(conn, "conversations", {"user_id": user_id, "id": conversation_id} | columns)
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
    values = {"user_id": user_id, "id": message_id, "conversation_id": conversation_id, "role": role}
    await insert_row(conn, "messages", values | {"content": content} | columns)
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


async def add_api_key(conn: asyncpg.Connection, user_id: uuid.UUID) -> uuid.UUID:
    key_id = new_id()
    await conn.execute(
        "INSERT INTO api_keys (user_id, id, name, secret_hash) VALUES ($1, $2, 'ci', $3)",
        user_id,
        key_id,
        sha256_bytes(),
    )
    return key_id


async def add_vault_rows(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """A vault key and a provider key of the user, as raw rows (their bytes are not real keys)."""
    await conn.execute(
        "INSERT INTO vault_keys (user_id, version, wrapped_key, master_key_id, master_version)"
        " VALUES ($1, 1, $2, 'local', 1)",
        user_id,
        bytes(60),
    )
    await conn.execute(
        "INSERT INTO provider_api_keys (user_id, provider, encrypted_key, key_last4)"
        " VALUES ($1, 'openai', $2, 'abcd')",
        user_id,
        bytes(40),
    )


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

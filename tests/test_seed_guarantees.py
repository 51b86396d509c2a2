"""Seed schema: guarantees the mapping claims across tables, proven through the SDK and the engine.

UUIDv7 ids in creation order (001/002/003/004 primary keys); optimistic locking on every table the
SDK updates (001/002 `version`); repositories that never open or end a transaction (002's
repository pattern); the acting user set with ``SET LOCAL`` inside each transaction and gone
when it ends, which is what PgBouncer's transaction pooling needs (004 "connection pooling").
docs/seed-mapping.md names these tests.
"""

from __future__ import annotations

import ast
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from agentkeep.agent_sessions.models import AgentSessionUpdate, NewAgentSession
from agentkeep.agents.models import AgentUpdate, NewAgent
from agentkeep.conversations.models import ConversationUpdate
from agentkeep.database.engine import Database, begin_statement
from agentkeep.database.urls import DatabaseUrls, asyncpg_dsn
from agentkeep.errors import StaleVersion
from agentkeep.ids import new_ids
from agentkeep.keep import Keep
from agentkeep.messages.models import NewMessage
from agentkeep.personas.models import NewPersona, PersonaUpdate
from agentkeep.principal import Principal
from agentkeep.user_sessions.models import NewUserSession
from agentkeep.users.models import UserUpdate

# ---------------------------------------------------------------------------------------------
# Ids: UUIDv7, in creation order
# ---------------------------------------------------------------------------------------------


def uuid7_time(value: uuid.UUID) -> datetime:
    """The creation time a UUIDv7 carries in its first 48 bits (Unix milliseconds)."""
    return datetime.fromtimestamp((value.int >> 80) / 1000, tz=UTC)


def test_new_ids_are_uuidv7_strictly_increasing() -> None:
    ids = new_ids(20_000)
    assert {(value.version, value.variant) for value in ids} == {(7, uuid.RFC_4122)}
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


async def test_rows_get_uuidv7_ids_in_creation_order(keep: Keep, make_user: Any, as_app: Any) -> None:
    user = await make_user()
    login = await keep.user_sessions.start(user.user_id, NewUserSession())
    session = await keep.agent_sessions.create(user.user_id, NewAgentSession(agent_type="developer"))
    chat = await keep.conversations.create(user.user_id)
    messages = [
        await keep.messages.append(user.user_id, chat.id, NewMessage(role="user", content=f"m{n}"))
        for n in range(5)
    ]
    agent = await keep.agents.create(NewAgent(name=f"ids-{uuid.uuid4().hex[:12]}", persona_type="qa"))
    created = [user.user_id, login.session.id, session.id, chat.id, *(m.id for m in messages), agent.id]
    assert {(value.version, value.variant) for value in created} == {(7, uuid.RFC_4122)}
    # Made one after another, so each id sorts after the one before: "latest N" is an index scan.
    assert created == sorted(created)
    async with as_app(Principal.user(user.user_id)) as conn:
        stamps = await conn.fetch(
            "SELECT id, created_at FROM messages WHERE user_id = $1 AND conversation_id = $2",
            user.user_id,
            chat.id,
        )
    for row in stamps:
        assert abs(uuid7_time(row["id"]) - row["created_at"]) < timedelta(seconds=5)


# ---------------------------------------------------------------------------------------------
# Optimistic locking: every versioned update the SDK offers
# ---------------------------------------------------------------------------------------------

# Each preparer makes a row and returns (update it at a version to a value, read it back).
Updater = Callable[[int, str], Awaitable[Any]]


async def _users(keep: Keep, user_id: uuid.UUID) -> tuple[Updater, Callable[[], Awaitable[Any]]]:
    async def update(version: int, value: str) -> Any:
        return await keep.users.update(user_id, UserUpdate(version=version, full_name=value))

    return update, lambda: keep.users.get(user_id)


async def _conversations(keep: Keep, user_id: uuid.UUID) -> tuple[Updater, Callable[[], Awaitable[Any]]]:
    chat = await keep.conversations.create(user_id)

    async def update(version: int, value: str) -> Any:
        return await keep.conversations.update(
            user_id, chat.id, ConversationUpdate(version=version, title=value)
        )

    return update, lambda: keep.conversations.get(user_id, chat.id)


async def _agent_sessions(keep: Keep, user_id: uuid.UUID) -> tuple[Updater, Callable[[], Awaitable[Any]]]:
    session = await keep.agent_sessions.create(user_id, NewAgentSession(agent_type="developer"))

    async def update(version: int, value: str) -> Any:
        changes = AgentSessionUpdate(version=version, context={"value": value})
        return await keep.agent_sessions.update(user_id, session.id, changes)

    return update, lambda: keep.agent_sessions.get(user_id, session.id)


async def _agents(keep: Keep, user_id: uuid.UUID) -> tuple[Updater, Callable[[], Awaitable[Any]]]:
    agent = await keep.agents.create(NewAgent(name=f"lock-{uuid.uuid4().hex[:12]}", persona_type="qa"))

    async def update(version: int, value: str) -> Any:
        return await keep.agents.update(agent.id, AgentUpdate(version=version, config={"value": value}))

    return update, lambda: keep.agents.get(agent.id)


async def _personas(keep: Keep, user_id: uuid.UUID) -> tuple[Updater, Callable[[], Awaitable[Any]]]:
    persona = await keep.personas.create(
        NewPersona(persona_name=f"lock-{uuid.uuid4().hex[:12]}", persona_version="1", specialization="qa")
    )

    async def update(version: int, value: str) -> Any:
        return await keep.personas.update(persona.id, PersonaUpdate(version=version, specialization=value))

    return update, lambda: keep.personas.get(persona.id)


VERSIONED = {
    "users": (_users, "full_name"),
    "conversations": (_conversations, "title"),
    "agent_sessions": (_agent_sessions, "context"),
    "agents": (_agents, "config"),
    "personas": (_personas, "specialization"),
}


@pytest.mark.parametrize("table", sorted(VERSIONED))
async def test_every_versioned_update_refuses_a_stale_version(keep: Keep, make_user: Any, table: str) -> None:
    user = await make_user()
    prepare, column = VERSIONED[table]
    update, read = await prepare(keep, user.user_id)
    first = await update(1, "first")
    assert first.version == 2
    with pytest.raises(StaleVersion):
        await update(1, "lost")
    current = await read()
    assert current.version == 2
    assert getattr(current, column) == getattr(first, column)


# ---------------------------------------------------------------------------------------------
# Repository pattern: repositories take a connection; services own the transaction
# ---------------------------------------------------------------------------------------------

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "agentkeep"
TRANSACTION_CALLS = {"transaction", "driver_transaction", "owner_transaction", "begin", "commit", "rollback"}
TRANSACTION_SQL = {"BEGIN", "COMMIT", "ROLLBACK", "END", "START TRANSACTION"}


def test_repositories_never_open_or_end_a_transaction() -> None:
    domains = sorted(path.parent for path in PACKAGE.glob("*/tables.py"))
    assert len(domains) >= 8
    offences = []
    for domain in domains:
        assert (domain / "service.py").is_file(), f"{domain.name}: no service.py"
        source = domain / "repository.py"
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in TRANSACTION_CALLS:
                offences.append(f"{domain.name}/repository.py:{node.lineno} .{node.attr}")
            is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
            if is_text and node.value.strip().rstrip(";").upper() in TRANSACTION_SQL:
                offences.append(f"{domain.name}/repository.py:{node.lineno} {node.value!r}")
    assert offences == []


# ---------------------------------------------------------------------------------------------
# The acting user lives in the transaction, never in the connection (PgBouncer transaction mode)
# ---------------------------------------------------------------------------------------------

ACTING = "SELECT pg_backend_pid() AS pid, current_setting('agentkeep.user_id', true) AS acting_user"
SESSION_STATE = (
    "SELECT coalesce(current_setting('agentkeep.user_id', true), '') AS acting_user, "
    "coalesce(current_setting('agentkeep.principal', true), '') AS principal, "
    "array(SELECT name || '=' || setting FROM pg_settings WHERE source = 'session' ORDER BY name) "
    "AS session_settings"
)


@pytest.mark.parametrize(
    "principal", [Principal.user(uuid.UUID(int=7)), Principal.service(uuid.UUID(int=7)), Principal.service()]
)
async def test_begin_sets_the_principal_only_for_its_transaction(
    urls: DatabaseUrls, principal: Principal
) -> None:
    """What the engine sends to open a transaction changes nothing that outlives it."""
    begin, *settings = begin_statement(principal).split("; ")
    assert begin == "BEGIN"
    assert settings
    assert all(statement.startswith("SET LOCAL agentkeep.") for statement in settings), settings
    conn = await asyncpg.connect(asyncpg_dsn(urls.app))
    try:
        before = dict(await conn.fetchrow(SESSION_STATE))
        for end in ("COMMIT", "ROLLBACK"):
            await conn.execute(begin_statement(principal))
            inside = await conn.fetchrow(SESSION_STATE)
            assert inside["acting_user"] == (str(principal.user_id) if principal.user_id else "")
            assert inside["principal"] == ("service" if principal.is_service else "")
            await conn.execute(end)
            assert dict(await conn.fetchrow(SESSION_STATE)) == before
    finally:
        await conn.close()


@pytest.mark.parametrize("way", ["transaction", "driver_transaction"])
async def test_a_reused_connection_never_carries_the_acting_user_over(
    urls: DatabaseUrls, database: Database, make_user: Any, way: str
) -> None:
    """One pooled connection, borrowed in turn: each borrower sees only its own acting user."""
    alice = await make_user()
    db = Database.from_urls(urls, pool_size=1)
    open_transaction = getattr(db, way)
    try:
        async with open_transaction(Principal.user(alice.user_id)) as tx:
            first = await tx.driver.fetchrow(ACTING)
            await tx.driver.execute(
                "INSERT INTO conversations (user_id, id) VALUES ($1, $2)", alice.user_id, uuid.uuid4()
            )
        assert first["acting_user"] == str(alice.user_id)
        with pytest.raises(RuntimeError, match="abandoned"):
            async with open_transaction(Principal.user(alice.user_id)):
                raise RuntimeError("abandoned midway")
        async with open_transaction(Principal.service()) as tx:
            after = await tx.driver.fetchrow(ACTING)
            visible = await tx.driver.fetchval("SELECT count(*) FROM conversations")
        assert after["pid"] == first["pid"], "the pool did not hand the same connection back"
        assert after["acting_user"] in (None, "")
        assert visible == 0
    finally:
        await db.close()

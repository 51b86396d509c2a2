"""Fixtures: one embedded PostgreSQL for the whole run, one migrated database on it.

Every test talks to that real server. ``keep`` is the SDK; ``as_app`` runs raw SQL as the
application role for a chosen user, exactly as the SDK's transactions do.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from agentkeep.api.app import create_app
from agentkeep.database import migrate
from agentkeep.database.bootstrap import drop_database, ensure_database
from agentkeep.database.embedded import EmbeddedServer
from agentkeep.database.engine import Database, principal_settings
from agentkeep.database.urls import DatabaseUrls, asyncpg_dsn
from agentkeep.keep import Keep
from agentkeep.principal import Principal
from agentkeep.schema import SCHEMA
from agentkeep.settings import load_settings
from agentkeep.users.models import NewUser, User

TEST_DATABASE = "agentkeep_test"


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # A short path keeps the server's socket path under the 107-byte limit.
    data_dir = Path(os.environ.get("AGENTKEEP_TEST_DATA_DIR") or tmp_path_factory.mktemp("ak"))
    server = EmbeddedServer.start(data_dir)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def urls(embedded_server: EmbeddedServer) -> DatabaseUrls:
    return DatabaseUrls.for_embedded(embedded_server, TEST_DATABASE)


@pytest.fixture(scope="session")
async def database(urls: DatabaseUrls) -> AsyncIterator[Database]:
    await drop_database(urls, TEST_DATABASE)
    await ensure_database(urls, TEST_DATABASE)
    db = Database.from_urls(urls, schema=SCHEMA)
    await migrate.upgrade(db)
    yield db
    await db.close()


@pytest.fixture(scope="session")
async def keep(database: Database) -> Keep:
    return Keep(database, load_settings())


@pytest.fixture
def make_user(keep: Keep) -> Callable[..., Any]:
    async def make(**fields: Any) -> User:
        suffix = uuid.uuid4().hex[:12]
        values = {"email": f"user-{suffix}@example.com", "username": f"user_{suffix}"} | fields
        return await keep.users.create(NewUser(**values))

    return make


@pytest.fixture
def as_app(
    urls: DatabaseUrls, database: Database
) -> Callable[..., AbstractAsyncContextManager[asyncpg.Connection]]:
    """Raw asyncpg as the application role, inside a transaction acting for ``principal``."""

    @asynccontextmanager
    async def connect(principal: Principal | None) -> AsyncIterator[asyncpg.Connection]:
        conn = await asyncpg.connect(asyncpg_dsn(urls.app))
        transaction = conn.transaction()
        try:
            await transaction.start()
            for statement in principal_settings(principal) if principal else []:
                await conn.execute(statement)
            try:
                yield conn  # nested ``conn.transaction()`` blocks are savepoints
            finally:
                await transaction.rollback()
        finally:
            await conn.close()

    return connect


@pytest.fixture
async def owner(urls: DatabaseUrls, database: Database) -> AsyncIterator[asyncpg.Connection]:
    """Raw asyncpg as the schema owner (catalog queries, schema inspection)."""
    conn = await asyncpg.connect(asyncpg_dsn(urls.owner))
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def service_key(keep: Keep) -> str:
    created = await keep.access_keys.create_service_key("tests")
    return created.secret


@pytest.fixture
async def client(keep: Keep) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(keep=keep)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://agentkeep.test") as http:
        yield http

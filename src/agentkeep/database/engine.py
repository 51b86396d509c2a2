"""Connections and transactions. Services open transactions here; repositories only take them.

Every application transaction names its principal: ``BEGIN`` and ``SET LOCAL`` of the acting
user go to the server in one round trip, and the setting dies with the transaction, so a pooled
connection never carries a user over to the next borrower.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from agentkeep.database.embedded import EmbeddedServer
from agentkeep.database.errors import translate
from agentkeep.database.urls import DatabaseUrls
from agentkeep.principal import Principal


def principal_settings(principal: Principal) -> list[str]:
    """The ``SET LOCAL`` statements that make a transaction act for ``principal``.

    The acting user is the one value written into SQL text (DESIGN.md): it is a UUID Python has
    parsed, re-serialised here by ``uuid.UUID.__str__``, so it can only be hex and dashes.
    ``SET LOCAL`` (not set_config) is what reaches Citus workers.
    """
    statements = []
    if principal.user_id is not None:
        acting_user = str(uuid.UUID(str(principal.user_id)))
        statements.append(f"SET LOCAL agentkeep.user_id = '{acting_user}'")
    if principal.is_service:
        statements.append("SET LOCAL agentkeep.principal = 'service'")
    return statements


def begin_statement(principal: Principal) -> str:
    """BEGIN plus the principal's settings, as one simple-protocol statement (one round trip)."""
    return "; ".join(["BEGIN", *principal_settings(principal)])


@dataclass
class Transaction:
    """A connection inside one transaction: SQLAlchemy Core on ``conn``, asyncpg on ``driver``."""

    conn: AsyncConnection
    driver: asyncpg.Connection[Any]
    principal: Principal


@dataclass
class Database:
    urls: DatabaseUrls
    app_engine: AsyncEngine
    owner_engine: AsyncEngine
    embedded: EmbeddedServer | None = None
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def from_urls(cls, urls: DatabaseUrls, *, pool_size: int = 10, embedded: EmbeddedServer | None = None) -> Database:
        # AUTOCOMMIT: SQLAlchemy sends no BEGIN of its own; transaction() sends BEGIN with the
        # principal's settings in the same round trip.
        app_engine = create_async_engine(
            urls.app,
            isolation_level="AUTOCOMMIT",
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=False,
        )
        owner_engine = create_async_engine(urls.owner, pool_size=2, max_overflow=2)
        return cls(urls=urls, app_engine=app_engine, owner_engine=owner_engine, embedded=embedded)

    @asynccontextmanager
    async def transaction(self, principal: Principal) -> AsyncIterator[Transaction]:
        async with self.app_engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver: asyncpg.Connection[Any] = raw.driver_connection  # type: ignore[assignment]
            if driver.is_in_transaction():
                # Left open by a borrower that was cancelled mid-flight: never inherit it.
                await driver.execute("ROLLBACK")
            await driver.execute(begin_statement(principal))
            try:
                yield Transaction(conn=conn, driver=driver, principal=principal)
                await driver.execute("COMMIT")
            except BaseException as exc:
                await _rollback_or_discard(conn, driver)
                translated = translate(exc)
                if translated is not None:
                    raise translated from exc
                raise

    @asynccontextmanager
    async def owner_transaction(self) -> AsyncIterator[AsyncConnection]:
        """The schema owner's connection: migrations and operator-only tables."""
        async with self.owner_engine.begin() as conn:
            yield conn

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.app_engine.dispose()
        await self.owner_engine.dispose()
        if self.embedded is not None:
            self.embedded.stop()


async def _rollback_or_discard(conn: AsyncConnection, driver: asyncpg.Connection[Any]) -> None:
    try:
        if not driver.is_closed():
            await driver.execute("ROLLBACK")
    except BaseException:
        await conn.invalidate()

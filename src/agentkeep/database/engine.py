"""Connections and transactions. Services open transactions here; repositories only take them.

Every application transaction names its principal: ``BEGIN`` and ``SET LOCAL`` of the acting
user go to the server in one round trip, and the setting dies with the transaction, so a pooled
connection never carries a user over to the next borrower.

Two ways in, same guarantees: :meth:`Database.transaction` hands out SQLAlchemy Core and asyncpg
on one pooled connection; :meth:`Database.driver_transaction` hands out asyncpg alone, from a
small pool of its own, for the hot paths (messages) where SQLAlchemy's pool checkout cost more
than the query (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import uuid
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, cast

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool

from agentkeep.correlation import current_correlation_id
from agentkeep.database.declared import DeclaredSchema
from agentkeep.database.embedded import EmbeddedServer
from agentkeep.database.errors import translate
from agentkeep.database.urls import DatabaseUrls, asyncpg_dsn
from agentkeep.principal import Principal

# agentkeep.correlation accepts only these; checked again here because the id is written into
# the SET LOCAL text (SET takes no bind parameters), so no other character may ever reach it.
_CORRELATION_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def principal_settings(principal: Principal) -> list[str]:
    """The ``SET LOCAL`` statements that make a transaction act for ``principal``.

    The acting user is the one value written into SQL text (the project's one exception to "no
    SQL built from values by string formatting", because SET takes no bind parameters): it is a
    UUID Python has parsed, re-serialised here by ``uuid.UUID.__str__``, so it can only be hex
    and dashes.
    ``SET LOCAL`` (not set_config) is what reaches Citus workers.
    """
    statements = []
    if principal.user_id is not None:
        acting_user = str(uuid.UUID(str(principal.user_id)))
        statements.append(f"SET LOCAL agentkeep.user_id = '{acting_user}'")
    if principal.is_service:
        statements.append("SET LOCAL agentkeep.principal = 'service'")
    if principal.is_operator:
        # What the operator functions (revision 0008) check before reading across users.
        statements.append("SET LOCAL agentkeep.principal = 'operator'")
    return statements


@functools.lru_cache(maxsize=4096)
def _principal_begin(principal: Principal) -> str:
    """Remembered per principal (a frozen value): parsing and printing the UUID again on every
    transaction was a measurable part of a short one (docs/benchmarks.md)."""
    return "; ".join(["BEGIN", *principal_settings(principal)])


def begin_statement(principal: Principal) -> str:
    """BEGIN plus the principal's settings and the request's correlation id (the audit trigger
    records it), as one simple-protocol statement (one round trip)."""
    begin = _principal_begin(principal)
    correlation_id = current_correlation_id()
    if correlation_id is None:
        return begin
    if not _CORRELATION_ID.fullmatch(correlation_id):
        raise ValueError("correlation id: only 1 to 128 characters of [A-Za-z0-9._-]")
    return f"{begin}; SET LOCAL agentkeep.correlation_id = '{correlation_id}'"


@dataclass
class Transaction:
    """A connection inside one transaction: SQLAlchemy Core on ``conn``, asyncpg on ``driver``."""

    conn: AsyncConnection
    driver: asyncpg.Connection[Any]
    principal: Principal


@dataclass(slots=True)
class DriverTransaction:
    """An asyncpg connection inside one transaction (no SQLAlchemy)."""

    driver: asyncpg.Connection[Any]
    principal: Principal


# The hot paths' statements have one good plan whatever their parameters (an index scan bounded
# by LIMIT $n); left to choose, PostgreSQL planned them afresh on every call (a parameter LIMIT
# keeps it on custom plans), about a third of the time of the latest 50 (measured: 256 us per
# call with custom plans, 174 us with the generic one, same SQL, embedded server).
# Not on Citus: its planner cannot route a generic plan of a statement with a subquery or a CTE
# (the parameters are unknown, so the shard is), and answers it with a deferred "could not create
# distributed plan" error plus a huge cost, so that PostgreSQL picks a custom plan instead;
# force_generic_plan ignores the cost and runs the error. There the server's own mode stays.
# enable_sort off: every hot-path statement has an index that gives its order. On a partitioned
# table a generic plan knows no row counts, and a partition ANALYZE found empty (one made ahead
# for next month) costs nothing to scan unordered, so the planner would sort the whole
# conversation under the LIMIT instead of running the partitions' backward index scans in order
# (measured: 165 ms instead of 0.07 ms for the latest 50 of 10,000). Off only makes a sort the
# last resort; a statement that has no other way still sorts.
PLAIN_DRIVER_SETTINGS = {"plan_cache_mode": "force_generic_plan", "enable_sort": "off"}
_HAS_CITUS = "SELECT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'citus')"


async def _driver_settings(conn: asyncpg.Connection[Any]) -> dict[str, str]:
    """The settings the driver pool's connections get on this database (asked once per pool)."""
    return {} if await conn.fetchval(_HAS_CITUS) else PLAIN_DRIVER_SETTINGS


class DriverPool:
    """A minimal pool of asyncpg connections for :meth:`Database.driver_transaction`.

    Borrowing is a list pop; giving back is a list append. Nothing is reset on return because
    nothing survives a transaction: the principal is set with SET LOCAL inside it, and a
    connection is given back only after COMMIT or ROLLBACK succeeded (otherwise it is closed).
    Up to ``size`` connections are kept; up to ``2 * size`` are open at once, like the
    SQLAlchemy pool's ``pool_size`` plus ``max_overflow``.
    """

    def __init__(self, dsn: str, size: int) -> None:
        self._dsn = dsn
        self._keep = size
        self._limit = 2 * size
        self._idle: list[asyncpg.Connection[Any]] = []
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False
        # Decided by the first connection (see PLAIN_DRIVER_SETTINGS), then given to every
        # later one at connect time, so no connection pays a round trip for it again.
        self._settings: dict[str, str] | None = None

    # Read-only views for metrics: plain attribute reads, nothing added to borrowing or giving back.
    @property
    def size(self) -> int:
        """How many idle connections are kept (up to twice as many may be open)."""
        return self._keep

    @property
    def open_count(self) -> int:
        """Connections open now: lent out plus idle."""
        return self._open

    @property
    def idle_count(self) -> int:
        return len(self._idle)

    async def acquire(self) -> tuple[asyncpg.Connection[Any], bool]:
        """A connection, and whether it was kept idle in the pool (False: opened just now)."""
        while True:
            if self._closed:
                raise RuntimeError("the database is closed")
            while self._idle:
                idle = self._idle.pop()
                if not idle.is_closed():
                    return idle, True
                self._open -= 1  # the client already saw the server hang up: skip it
            if self._open < self._limit:
                self._open += 1
                try:
                    conn = await self._connect()
                except BaseException:
                    self._open -= 1
                    self._wake_one()
                    raise
                return conn, False
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # woken and cancelled at once: pass the turn on
                else:
                    with contextlib.suppress(ValueError):  # _wake_one may have dropped it
                        self._waiters.remove(waiter)
                raise

    async def _connect(self) -> asyncpg.Connection[Any]:
        if self._settings is not None:
            return await asyncpg.connect(self._dsn, server_settings=self._settings)
        conn: asyncpg.Connection[Any] = await asyncpg.connect(self._dsn)
        try:
            settings = await _driver_settings(conn)
            for name, value in settings.items():
                await conn.execute("SELECT set_config($1, $2, false)", name, value)
        except BaseException:
            conn.terminate()
            raise
        self._settings = settings
        return conn

    def release(self, conn: asyncpg.Connection[Any], *, reusable: bool) -> None:
        if reusable and not self._closed and not conn.is_closed() and len(self._idle) < self._keep:
            self._idle.append(conn)
        else:
            self._open -= 1
            if not conn.is_closed():
                conn.terminate()
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            self._open -= 1
            try:
                await conn.close(timeout=5)
            except Exception:
                conn.terminate()
        while self._waiters:
            self._wake_one()


class _DriverScope:
    """The context manager of :meth:`Database.driver_transaction` (a class: cheaper than a
    generator-based one on a path this short)."""

    __slots__ = ("_constraint_fields", "_driver", "_pool", "_principal")

    def __init__(self, pool: DriverPool, principal: Principal, constraint_fields: Mapping[str, str]) -> None:
        self._pool = pool
        self._principal = principal
        self._constraint_fields = constraint_fields
        self._driver: asyncpg.Connection[Any] | None = None

    async def __aenter__(self) -> DriverTransaction:
        begin = begin_statement(self._principal)
        while True:
            driver, was_idle = await self._pool.acquire()
            try:
                await driver.execute(begin)
            except Exception:
                self._pool.release(driver, reusable=False)
                if was_idle:
                    # Nothing of the caller's has run. A kept connection failing its BEGIN was
                    # dropped by the server while idle (a restart, an idle timeout), in whatever
                    # state the client has reached in reading the server's goodbye: closed,
                    # or the error read and the end of stream not yet, where asyncpg refuses
                    # BEGIN with InternalClientError. Take another: each failure removes one
                    # idle connection, so this ends with a fresh one, whose failure is real.
                    continue
                raise
            except BaseException:
                self._pool.release(driver, reusable=False)
                raise
            self._driver = driver
            return DriverTransaction(driver, self._principal)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        driver = self._driver
        assert driver is not None
        self._driver = None
        if exc is None:
            try:
                await driver.execute("COMMIT")
            except BaseException as commit_error:
                exc = commit_error
            else:
                self._pool.release(driver, reusable=not driver.is_in_transaction())
                return
        reusable = await _rolled_back(driver)
        self._pool.release(driver, reusable=reusable and not driver.is_in_transaction())
        translated = translate(exc, self._constraint_fields)
        if translated is not None:
            raise translated from exc
        if exc_type is None:
            raise exc  # COMMIT failed: the caller must know
        # Otherwise returning None lets the caller's own exception propagate unchanged.


@dataclass
class Database:
    urls: DatabaseUrls
    app_engine: AsyncEngine
    owner_engine: AsyncEngine
    drivers: DriverPool
    embedded: EmbeddedServer | None = None
    schema: DeclaredSchema | None = None
    """The tables the layers above declare (agentkeep.schema.SCHEMA); without it, errors name no
    field a constraint guards and ``agentkeep doctor`` cannot tell which tables should exist."""
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def from_urls(
        cls,
        urls: DatabaseUrls,
        *,
        pool_size: int = 10,
        embedded: EmbeddedServer | None = None,
        schema: DeclaredSchema | None = None,
    ) -> Database:
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
        drivers = DriverPool(asyncpg_dsn(urls.app), pool_size)
        return cls(
            urls=urls,
            app_engine=app_engine,
            owner_engine=owner_engine,
            embedded=embedded,
            drivers=drivers,
            schema=schema,
        )

    @property
    def _pooled_at_most(self) -> int:
        """How many idle connections the SQLAlchemy pool keeps (its pool_size)."""
        pool = self.app_engine.pool
        return pool.size() if isinstance(pool, QueuePool) else 0

    @property
    def constraint_fields(self) -> Mapping[str, str]:
        return self.schema.constraint_fields if self.schema is not None else {}

    @asynccontextmanager
    async def transaction(self, principal: Principal) -> AsyncIterator[Transaction]:
        async with self.app_engine.connect() as conn:
            driver = await _begin(conn, begin_statement(principal), self._pooled_at_most + 1)
            try:
                yield Transaction(conn=conn, driver=driver, principal=principal)
                await driver.execute("COMMIT")
            except BaseException as exc:
                await _rollback_or_discard(conn, driver)
                translated = translate(exc, self.constraint_fields)
                if translated is not None:
                    raise translated from exc
                raise

    def driver_transaction(self, principal: Principal) -> AbstractAsyncContextManager[DriverTransaction]:
        """Like :meth:`transaction`, asyncpg only: ``BEGIN; SET LOCAL …``, your statements, COMMIT.

        The connection goes back to the pool only once COMMIT or ROLLBACK went through (so no
        transaction, and no SET LOCAL, outlives the block); if neither did, it is closed.
        """
        return _DriverScope(self.drivers, principal, self.constraint_fields)

    @asynccontextmanager
    async def owner_transaction(self) -> AsyncIterator[AsyncConnection]:
        """The schema owner's connection: migrations and operator-only tables."""
        async with self.owner_engine.begin() as conn:
            yield conn

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.drivers.close()
        await self.app_engine.dispose()
        await self.owner_engine.dispose()
        if self.embedded is not None:
            self.embedded.stop()


async def _begin(conn: AsyncConnection, begin: str, attempts: int) -> asyncpg.Connection[Any]:
    """Send BEGIN on the pooled connection, replacing it while it turns out to be dead.

    As in :class:`_DriverScope`: nothing of the caller's has run, so a connection the server
    dropped while it sat in the pool is invalidated and the next one tried. The pool keeps at
    most ``attempts - 1`` idle connections, so the last attempt is on a fresh one.
    """
    for attempt in range(attempts):
        raw = await conn.get_raw_connection()
        driver = cast("asyncpg.Connection[Any]", raw.driver_connection)
        try:
            if driver.is_in_transaction():
                # Left open by a borrower that was cancelled mid-flight: never inherit it.
                await driver.execute("ROLLBACK")
            await driver.execute(begin)
        except Exception:
            await conn.invalidate()
            if attempt == attempts - 1:
                raise
            continue
        return driver
    raise AssertionError("unreachable: attempts >= 1")


async def _rolled_back(driver: asyncpg.Connection[Any]) -> bool:
    """End a failed transaction; False when the connection is unusable and must be closed."""
    try:
        if driver.is_closed():
            return False
        if driver.is_in_transaction():
            await driver.execute("ROLLBACK")
        return True
    except BaseException:
        return False


async def _rollback_or_discard(conn: AsyncConnection, driver: asyncpg.Connection[Any]) -> None:
    try:
        if not driver.is_closed():
            await driver.execute("ROLLBACK")
    except BaseException:
        await conn.invalidate()

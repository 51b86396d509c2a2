"""Shared by tests/test_retention_*.py: a database of its own per test, and rows of a given age.

Retention runs across all users, so each test gets a fresh database (on every node on Citus)
and no other test's rows are ever due. Rows are written as the schema owner acting for their
user, with explicit timestamps, in one committed transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from agentkeep.database import migrate
from agentkeep.database.engine import Database
from agentkeep.database.urls import DatabaseUrls, asyncpg_dsn
from agentkeep.ids import new_id
from agentkeep.profiles.loader import load_profile
from agentkeep.profiles.service import ProfileService
from agentkeep.retention.archive import read_rows
from agentkeep.retention.service import RetentionService
from agentkeep.schema import SCHEMA
from seed_helpers import act_as, insert_row, sha256_bytes

NOW = datetime.now(UTC)
RETENTION_TABLES = ("messages", "conversations", "persona_activations", "agent_sessions", "user_sessions")


def ago(*, days: int = 0, years: int = 0) -> datetime:
    return NOW - timedelta(days=days + 366 * years)


@dataclass
class Scratch:
    database: Database
    urls: DatabaseUrls
    archive_root: Path

    def service(self) -> RetentionService:
        return RetentionService(self.database, self.archive_root)

    async def owner(self) -> asyncpg.Connection:
        return await asyncpg.connect(asyncpg_dsn(self.urls.owner))

    async def counts(self) -> dict[str, int]:
        """Rows per retention table, over all users (as the operator)."""
        conn = await self.owner()
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL agentkeep.principal = 'operator'")
                return {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in RETENTION_TABLES}
        finally:
            await conn.close()

    async def ids(self, table: str) -> set[uuid.UUID]:
        conn = await self.owner()
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL agentkeep.principal = 'operator'")
                return {row["id"] for row in await conn.fetch(f"SELECT id FROM {table}")}
        finally:
            await conn.close()

    async def write(self, user_id: uuid.UUID, rows: list[tuple[str, dict[str, Any]]]) -> None:
        """Insert ``rows`` (table, values) for ``user_id`` in one transaction, as that user."""
        conn = await self.owner()
        try:
            async with conn.transaction():
                await act_as(conn, user_id)
                for table, values in rows:
                    await insert_row(conn, table, {"user_id": user_id} | values)
        finally:
            await conn.close()

    async def new_user(self) -> uuid.UUID:
        user_id = new_id()
        conn = await self.owner()
        try:
            async with conn.transaction():
                await act_as(conn, user_id)
                await conn.execute(
                    "INSERT INTO users (user_id, email) VALUES ($1, $2)", user_id, f"{user_id}@example.com"
                )
        finally:
            await conn.close()
        return user_id


def archived_rows(folder: str | None, table: str = "*") -> list[dict[str, Any]]:
    """The rows of a run's archive files (of one table, or all), file by file."""
    files = sorted(Path(folder or "").glob(f"{table}-*.jsonl.gz"))
    return [row for file in files for row in read_rows(file)]


def user_session(*, ended: datetime | None, **columns: Any) -> tuple[str, dict[str, Any]]:
    values = {
        "id": new_id(),
        "token_hash": sha256_bytes(),
        "expires_at": (ended or NOW) + timedelta(days=1),
        "ended_at": ended,
        "started_at": (ended or NOW) - timedelta(hours=1),
        "status": "ended" if ended else "active",
    }
    return "user_sessions", values | columns


def agent_session(*, status: str, completed: datetime | None, **columns: Any) -> tuple[str, dict[str, Any]]:
    values = {"id": new_id(), "agent_type": "developer", "status": status, "completed_at": completed}
    return "agent_sessions", values | columns


def conversation(**columns: Any) -> tuple[str, dict[str, Any]]:
    return "conversations", {"id": new_id()} | columns


def message(conversation_id: uuid.UUID, created: datetime, **columns: Any) -> tuple[str, dict[str, Any]]:
    values = {"id": new_id(), "conversation_id": conversation_id, "role": "user", "content": f"m-{new_id()}"}
    return "messages", values | {"created_at": created, "updated_at": created} | columns


async def scratch_database(
    database_factory: Callable[[str], AbstractAsyncContextManager[DatabaseUrls]],
    archive_root: Path,
    profile: str,
) -> AsyncIterator[Scratch]:
    name = f"agentkeep_retention_{uuid.uuid4().hex[:10]}"
    async with database_factory(name) as urls:
        database = Database.from_urls(urls, schema=SCHEMA)
        try:
            await migrate.upgrade(database)
            await ProfileService(database).apply(load_profile(profile))
            yield Scratch(database=database, urls=urls, archive_root=archive_root)
        finally:
            await database.close()

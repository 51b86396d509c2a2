"""agentkeep on a PostgreSQL it did not start: the machine's PostgreSQL 15 service.

Needs a PostgreSQL >= 15 at AGENTKEEP_TEST_EXTERNAL_URL (default postgresql://postgres@127.0.0.1:5432/postgres,
a superuser with trust authentication, as CI machines of this project have); skipped elsewhere.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from agentkeep.conversations.models import NewConversation
from agentkeep.database.doctor import run_checks
from agentkeep.errors import ConfigurationError, NotFound
from agentkeep.keep import Keep
from agentkeep.messages.models import NewMessage
from agentkeep.settings import load_settings
from agentkeep.users.models import NewUser

ADMIN_URL = os.environ.get("AGENTKEEP_TEST_EXTERNAL_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
async def external_database() -> AsyncIterator[str]:
    try:
        admin = await asyncpg.connect(ADMIN_URL, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"no PostgreSQL service at {ADMIN_URL}: {exc}")
    name = f"agentkeep_external_{uuid.uuid4().hex[:8]}"
    try:
        if await admin.fetchval("SELECT current_setting('server_version_num')::int") < 150000:
            pytest.skip("the PostgreSQL service is older than 15")
        await admin.execute(await admin.fetchval("SELECT format('CREATE DATABASE %I', $1::text)", name))
        yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        await admin.execute(
            await admin.fetchval("SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', $1::text)", name)
        )
        await admin.close()


async def test_migrates_and_isolates_users_on_an_external_postgresql(external_database: str) -> None:
    settings = load_settings(database_url=external_database)
    with pytest.raises(ConfigurationError, match="pending migration"):
        await Keep.connect(settings)
    async with await Keep.connect(settings, migrate=True) as keep:
        alice = await keep.users.create(NewUser(email=f"alice-{uuid.uuid4().hex[:6]}@example.com"))
        bob = await keep.users.create(NewUser(email=f"bob-{uuid.uuid4().hex[:6]}@example.com"))
        chat = await keep.conversations.create(alice.user_id, NewConversation(title="alice's"))
        await keep.messages.append(alice.user_id, chat.id, NewMessage(role="user", content="hi"))
        with pytest.raises(NotFound):
            await keep.conversations.get(bob.user_id, chat.id)
        assert [m.content for m in await keep.messages.latest(alice.user_id, chat.id)] == ["hi"]
        checks = {check.name: check for check in await run_checks(keep.database)}
        for name in (
            "database reachable",
            "PostgreSQL version",
            "application role",
            "row-level security",
            "migrations",
        ):
            assert checks[name].ok, checks[name]
        assert "memory features" in checks["pgvector"].detail
        # A database the operator made still lets PUBLIC create temporary tables: doctor says how
        # to take that away, and is satisfied once it is done.
        privileges = checks["creation rights"]
        assert not privileges.ok
        assert "REVOKE CREATE, TEMPORARY ON DATABASE" in privileges.detail
        owner = await asyncpg.connect(external_database)
        try:
            await owner.execute(
                await owner.fetchval(
                    "SELECT format('REVOKE CREATE, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database())"
                )
            )
        finally:
            await owner.close()
        checks = {check.name: check for check in await run_checks(keep.database)}
        assert checks["creation rights"].ok, checks["creation rights"]

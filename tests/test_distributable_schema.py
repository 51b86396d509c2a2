"""Migration 0002's schema, on plain PostgreSQL and on Citus alike (docs/scale-out.md).

Policies read the acting user without a sub-select and still fail closed; e-mail and username
uniqueness lives in handle tables that no other user can read; deleting a parent clears the
references to it, as ``ON DELETE SET NULL (col)`` did.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from agentkeep.database import doctor, migrate
from agentkeep.database.engine import Database
from agentkeep.database.urls import asyncpg_dsn
from agentkeep.errors import Conflict
from agentkeep.ids import new_id
from agentkeep.keep import Keep
from agentkeep.messages.models import NewMessage
from agentkeep.principal import Principal
from agentkeep.schema import tables_by_tenancy
from agentkeep.users.models import NewUser, UserUpdate

HANDLE_TABLES = [table.name for table in tables_by_tenancy("handle")]


async def _handles(as_app: Any, user_id: Any) -> set[str]:
    async with as_app(Principal.user(user_id)) as conn:
        emails = [row[0] for row in await conn.fetch("SELECT email FROM user_emails")]
        usernames = [row[0] for row in await conn.fetch("SELECT username FROM user_usernames")]
    return {*emails, *usernames}


async def test_policies_have_no_sub_select_and_still_fail_closed(
    owner: asyncpg.Connection, make_user: Any, as_app: Any, keep: Keep
) -> None:
    policies = await owner.fetch(
        "SELECT tablename, policyname, coalesce(qual, '') || coalesce(with_check, '') AS expression"
        " FROM pg_policies WHERE schemaname = 'public' AND tablename !~ '_[0-9]+$'"
    )
    assert policies
    for row in policies:
        assert "SELECT" not in row["expression"].upper(), f"{row['policyname']}: {row['expression']}"
    user = await make_user()
    await keep.conversations.create(user.user_id)
    async with as_app(None) as conn:
        # An empty setting (what RESET leaves) is no user at all, not an error and not everyone.
        await conn.execute("SET LOCAL agentkeep.user_id = ''")
        for table in [t.name for t in tables_by_tenancy("user")] + HANDLE_TABLES:
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table


async def test_a_user_holds_lower_cased_handles_no_one_else_can_read(make_user: Any, as_app: Any) -> None:
    alice = await make_user(email="Alice.Handle@Example.com", username=f"Alice_{new_id().hex[:8]}")
    bob = await make_user()
    assert await _handles(as_app, alice.user_id) == {"alice.handle@example.com", alice.username.lower()}
    assert alice.username.lower() not in await _handles(as_app, bob.user_id)
    assert len(await _handles(as_app, bob.user_id)) == 2


async def test_a_taken_handle_is_a_conflict_in_any_case(keep: Keep, make_user: Any, as_app: Any) -> None:
    taken = await make_user()
    with pytest.raises(Conflict) as email_taken:
        await make_user(email=taken.email.upper())
    with pytest.raises(Conflict) as username_taken:
        await make_user(username=taken.username.upper())
    assert (email_taken.value.field, username_taken.value.field) == ("email", "username")
    other = await make_user()
    with pytest.raises(Conflict):
        await keep.users.update(other.user_id, UserUpdate(version=other.version, email=taken.email))
    # Nothing of the refused change was kept: the row and the handles are as they were.
    assert (await keep.users.get(other.user_id)).email == other.email
    assert await _handles(as_app, other.user_id) == {other.email.lower(), other.username.lower()}


async def test_concurrent_sign_ups_with_one_email_let_exactly_one_in(keep: Keep) -> None:
    email = f"race-{new_id().hex[:10]}@example.com"
    results = await asyncio.gather(
        *(keep.users.create(NewUser(email=email.upper() if i % 2 else email)) for i in range(4)),
        return_exceptions=True,
    )
    created = [result for result in results if not isinstance(result, BaseException)]
    assert len(created) == 1, results
    assert all(isinstance(result, Conflict) for result in results if isinstance(result, BaseException))


async def test_changing_or_deleting_frees_the_old_handles(keep: Keep, make_user: Any, as_app: Any) -> None:
    user = await make_user()
    old_email, old_username = user.email, user.username
    changed = await keep.users.update(
        user.user_id, UserUpdate(version=user.version, email=f"new-{old_email}", username=None)
    )
    assert await _handles(as_app, user.user_id) == {changed.email.lower()}
    reused = await make_user(email=old_email, username=old_username)
    await keep.users.delete(reused.user_id)
    assert await _handles(as_app, reused.user_id) == set()
    assert (await make_user(email=old_email, username=old_username)).email == old_email


async def test_upgrading_copies_the_handles_of_live_users(database_factory: Any) -> None:
    async with database_factory("agentkeep_handles_copy") as urls:
        database = Database.from_urls(urls)
        try:
            await migrate.upgrade(database, "0001")
            live, gone = new_id(), new_id()
            admin = await asyncpg.connect(asyncpg_dsn(urls.superuser.set(database=urls.owner.database)))
            try:
                await admin.execute(
                    "INSERT INTO users (user_id, email, username, deleted_at) VALUES"
                    " ($1, 'Live@Example.com', 'LiveOne', NULL), ($2, 'gone@example.com', 'gone', now())",
                    live,
                    gone,
                )
                await migrate.upgrade(database)
                emails = await admin.fetch("SELECT email, user_id FROM user_emails")
                usernames = await admin.fetch("SELECT username, user_id FROM user_usernames")
            finally:
                await admin.close()
        finally:
            await database.close()
    assert [tuple(row) for row in emails] == [("live@example.com", live)]
    assert [tuple(row) for row in usernames] == [("liveone", live)]


async def test_deleting_a_parent_clears_its_references(keep: Keep, make_user: Any, as_app: Any) -> None:
    """What ON DELETE SET NULL (col) did, now RESTRICT plus a trigger that clears first."""
    user = await make_user()
    conversation = await keep.conversations.create(user.user_id)
    root = await keep.messages.append(user.user_id, conversation.id, NewMessage(role="user", content="root"))
    reply = await keep.messages.append(
        user.user_id, conversation.id, NewMessage(role="assistant", content="r", parent_message_id=root.id)
    )
    await keep.messages.append(
        user.user_id, conversation.id, NewMessage(role="user", content="rr", parent_message_id=reply.id)
    )
    async with as_app(Principal.user(user.user_id)) as conn:
        await conn.execute("DELETE FROM messages WHERE user_id = $1 AND id = $2", user.user_id, reply.id)
        parents = await conn.fetch("SELECT content, parent_message_id FROM messages ORDER BY id")
        assert [tuple(row) for row in parents] == [("root", None), ("rr", None)]
    async with as_app(Principal.user(user.user_id)) as conn:
        # A whole chain in one statement (the cascade from its conversation) goes too.
        assert await conn.execute("DELETE FROM conversations WHERE user_id = $1", user.user_id) == "DELETE 1"
        assert await conn.fetchval("SELECT count(*) FROM messages") == 0
    async with as_app(Principal.user(user.user_id)) as conn:
        assert await conn.execute("DELETE FROM messages WHERE user_id = $1", user.user_id) == "DELETE 3"


async def test_doctor_reports_the_distribution(database: Database) -> None:
    check = await _distribution(database)
    assert check.name == "distribution" and check.ok, check.detail
    assert check.detail.startswith("plain PostgreSQL") or "users: distributed by user_id" in check.detail


async def _distribution(database: Database) -> doctor.Check:
    """Doctor's distribution check, as `agentkeep doctor` runs it."""
    async with database.owner_transaction() as conn:
        return await doctor.distribution(conn, database.schema)

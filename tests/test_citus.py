"""On a Citus cluster: every table is placed as docs/scale-out.md says, and tenancy holds across workers.

Runs in cluster mode only (``AGENTKEEP_TEST_CITUS_URL``, set by ``make test`` when the Citus
build for the embedded PostgreSQL is present).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest

from agentkeep.agent_sessions.models import NewAgentSession
from agentkeep.conversations.models import NewConversation
from agentkeep.database import doctor, migrate
from agentkeep.database.engine import Database
from agentkeep.errors import NotFound
from agentkeep.keep import Keep
from agentkeep.messages.models import NewMessage
from agentkeep.personas.models import NewActivation, NewPersona
from agentkeep.principal import Principal
from agentkeep.schema import SCHEMA, metadata, tables_by_tenancy
from agentkeep.user_sessions.models import NewUserSession
from agentkeep.users.models import User

pytestmark = pytest.mark.skipif(
    not os.environ.get("AGENTKEEP_TEST_CITUS_URL"),
    reason="needs a Citus cluster: AGENTKEEP_TEST_CITUS_URL (make test starts one with ../shared/citus)",
)

CITUS_TABLES = (
    "SELECT table_name::text AS name, citus_table_type AS kind, distribution_column AS column_name,"
    " colocation_id FROM citus_tables"
)
WORKER_OF = (
    "SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n ON n.groupid = p.groupid"
    " WHERE p.shardid = get_shard_id_for_distribution_column($1, $2::uuid)"
)
# Not the audit trail: it outlives its user and has no row triggers on Citus yet (docs/audit.md).
USER_TABLES = [table.name for table in tables_by_tenancy("user") if not table.name.startswith("audit_")]
# What _fill below writes a row of for each user (registration adds the consent tiers and their log).
FILLED = {
    "users",
    "user_sessions",
    "agent_sessions",
    "persona_activations",
    "conversations",
    "messages",
    "api_keys",
    "consent_tiers",
    "consent_logs",
}


async def test_every_table_is_placed_by_its_tenancy(owner: asyncpg.Connection) -> None:
    """The rule every later table follows: user tables by user_id with users; catalogs everywhere."""
    placed = {row["name"]: row for row in await owner.fetch(CITUS_TABLES)}
    assert set(metadata.tables) <= set(placed), f"not known to Citus: {set(metadata.tables) - set(placed)}"
    users_group = placed["users"]["colocation_id"]
    for name in USER_TABLES:
        assert placed[name]["kind"] == "distributed", name
        assert placed[name]["column_name"] == "user_id", name
        assert placed[name]["colocation_id"] == users_group, f"{name} is not co-located with users"
    for tenancy in ("catalog", "operator"):
        for table in tables_by_tenancy(tenancy):
            assert placed[table.name]["kind"] == "reference", table.name
    for table in tables_by_tenancy("handle"):
        key = next(iter(table.primary_key.columns)).name
        assert (placed[table.name]["kind"], placed[table.name]["column_name"]) == ("distributed", key)


async def _on_different_workers(
    make_user: Callable[..., Any], owner: asyncpg.Connection
) -> tuple[User, User, int, int]:
    """Two users whose rows live on different workers (ids are random: try until they differ)."""
    first = await make_user()
    first_worker = await owner.fetchval(WORKER_OF, "users", first.user_id)
    for _ in range(64):
        second = await make_user()
        second_worker = await owner.fetchval(WORKER_OF, "users", second.user_id)
        if second_worker != first_worker:
            return first, second, first_worker, second_worker
    raise AssertionError("64 users in a row landed on one worker")


async def _fill(keep: Keep, user: User) -> dict[str, Any]:
    started = await keep.user_sessions.start(user.user_id, NewUserSession())
    agent_session = await keep.agent_sessions.create(
        user.user_id, NewAgentSession(agent_type="developer", user_session_id=started.session.id)
    )
    persona = await keep.personas.create(
        NewPersona(persona_name=f"p-{uuid.uuid4().hex[:8]}", persona_version="1", specialization="qa")
    )
    await keep.personas.activate(
        user.user_id, agent_session.id, NewActivation(persona_id=persona.id, activation_trigger="test")
    )
    conversation = await keep.conversations.create(user.user_id, NewConversation(title=f"of {user.email}"))
    first = await keep.messages.append(
        user.user_id, conversation.id, NewMessage(role="user", content=f"secret of {user.email}")
    )
    await keep.messages.append(
        user.user_id,
        conversation.id,
        NewMessage(
            role="assistant", content="reply", parent_message_id=first.id, agent_session_id=agent_session.id
        ),
    )
    key = await keep.access_keys.create(user.user_id)
    return {"conversation": conversation, "message": first, "agent_session": agent_session, "key": key}


async def test_users_on_different_workers_see_only_their_own_rows(
    keep: Keep, make_user: Any, owner: asyncpg.Connection, as_app: Any, client: httpx.AsyncClient
) -> None:
    alice, bob, alice_worker, bob_worker = await _on_different_workers(make_user, owner)
    rows = {alice.user_id: await _fill(keep, alice), bob.user_id: await _fill(keep, bob)}
    # Each user's rows sit beside their users row: every user table is co-located.
    for user, worker in ((alice, alice_worker), (bob, bob_worker)):
        for table in USER_TABLES:
            assert await owner.fetchval(WORKER_OF, table, user.user_id) == worker, table
    for me, other in ((alice, bob), (bob, alice)):
        mine, theirs = rows[me.user_id], rows[other.user_id]
        # SDK
        listed = await keep.conversations.list(me.user_id, archived=None)
        assert [c.id for c in listed.items] == [mine["conversation"].id]
        assert [m.content for m in await keep.messages.latest(me.user_id, mine["conversation"].id)] == [
            f"secret of {me.email}",
            "reply",
        ]
        for attempt in (
            keep.messages.latest(me.user_id, theirs["conversation"].id),
            keep.conversations.get(me.user_id, theirs["conversation"].id),
            keep.messages.get(me.user_id, theirs["message"].id),
            keep.agent_sessions.get(me.user_id, theirs["agent_session"].id),
        ):
            with pytest.raises(NotFound):
                await attempt
        # REST, with the user's own key
        headers = {"Authorization": f"Bearer {mine['key'].secret}"}
        response = await client.get("/api/conversations", headers=headers)
        assert response.status_code == 200, response.text
        assert [item["id"] for item in response.json()["items"]] == [str(mine["conversation"].id)]
        stolen = await client.get(f"/api/messages/{theirs['message'].id}", headers=headers)
        assert stolen.status_code == 404, stolen.text
        latest = await client.get(
            f"/api/conversations/{mine['conversation'].id}/messages/latest", headers=headers
        )
        assert [item["content"] for item in latest.json()["items"]] == [f"secret of {me.email}", "reply"]
        # Raw SQL as the application role
        async with as_app(Principal.user(me.user_id)) as conn:
            for table in USER_TABLES:
                owners = {row[0] for row in await conn.fetch(f"SELECT DISTINCT user_id FROM {table}")}
                # Tables this fill leaves empty for the user (later capabilities') may show nothing;
                # tests/test_tenancy.py fills every user table and checks it on Citus too.
                assert owners <= {me.user_id}, table
                if table in FILLED:
                    assert owners == {me.user_id}, table
                assert (
                    await conn.fetchval(f"SELECT count(*) FROM {table} WHERE user_id = $1", other.user_id)
                    == 0
                )
    async with as_app(None) as conn:
        for table in USER_TABLES:
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table


async def test_deleting_a_parent_clears_references_on_the_workers(
    keep: Keep, make_user: Any, as_app: Any
) -> None:
    """RESTRICT plus the clearing trigger (Citus refuses ON DELETE SET NULL (col)) on the shards."""
    user = await make_user()
    filled = await _fill(keep, user)
    async with as_app(Principal.user(user.user_id)) as conn:
        await conn.execute(
            "DELETE FROM messages WHERE user_id = $1 AND id = $2", user.user_id, filled["message"].id
        )
        await conn.execute(
            "DELETE FROM agent_sessions WHERE user_id = $1 AND id = $2",
            user.user_id,
            filled["agent_session"].id,
        )
        reply = await conn.fetchrow("SELECT parent_message_id, agent_session_id FROM messages")
        assert tuple(reply) == (None, None)
        assert await conn.execute("DELETE FROM users WHERE user_id = $1", user.user_id) == "DELETE 1"
        for table in USER_TABLES:
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table


async def test_doctor_reports_each_table_and_warns_about_an_undistributed_user_table(
    database: Database, database_factory: Any
) -> None:
    check = await _distribution(database)
    assert check.ok, check.detail
    assert "users: distributed by user_id" in check.detail and "agents: reference" in check.detail
    async with database_factory("agentkeep_doctor_local") as urls:
        local = Database.from_urls(urls, schema=SCHEMA)
        try:
            await migrate.upgrade(local, "0001")  # tables made, none distributed yet
            warned = await _distribution(local)
        finally:
            await local.close()
    assert not warned.ok
    assert "users should be distributed by user_id" in warned.detail
    assert "messages should be distributed by user_id" in warned.detail


async def _distribution(database: Database) -> doctor.Check:
    """Doctor's distribution check, as `agentkeep doctor` runs it."""
    async with database.owner_transaction() as conn:
        return await doctor.distribution(conn, database.schema)

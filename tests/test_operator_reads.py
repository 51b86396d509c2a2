"""Operator reads across users: through SECURITY DEFINER functions only, audited, never a bypass.

Seed 001's ``user_activity_summary`` for two users and an operator: each user sees their own row
(``public.user_activity_summary``, security_invoker), the operator sees every user's
(``operator_user_activity_summary()``), and both equal what the seed's own query gives when run
as the superuser over the ``devassist`` views. The application role still has no BYPASSRLS and
reads no other user's rows directly, operator principal or not.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from agentkeep.database.roles import APP_ROLE, OPERATOR_ROLE
from agentkeep.database.urls import DatabaseUrls, asyncpg_dsn
from agentkeep.errors import Forbidden, InvalidInput
from agentkeep.keep import Keep
from agentkeep.principal import Principal
from compat_helpers import USER_ACTIVITY_SUMMARY_BODY, AsApp, World, build_world

OPERATOR_SUMMARY = "SELECT * FROM operator_user_activity_summary()"
PAGE_OF_TWO = "SELECT * FROM operator_user_activity_summary(NULL, 2)"
PUBLIC_SUMMARY = "SELECT * FROM public.user_activity_summary"


@pytest.fixture(scope="module")
async def world(keep: Keep) -> World:
    return await build_world(keep)


@pytest.fixture
async def superuser(urls: DatabaseUrls, database: Any) -> AsyncIterator[asyncpg.Connection]:
    assert urls.superuser is not None
    conn = await asyncpg.connect(asyncpg_dsn(urls.superuser.set(database=urls.app.database)))
    try:
        yield conn
    finally:
        await conn.close()


async def _seed_rows(superuser: asyncpg.Connection) -> dict[uuid.UUID, tuple[Any, ...]]:
    """The seed's query as written, as the superuser (no row-level security): every user."""
    async with superuser.transaction():
        await superuser.execute("SET LOCAL search_path = devassist")
        # The seed's view body, run as the superuser over the devassist views: every user.
        rows = await superuser.fetch(USER_ACTIVITY_SUMMARY_BODY)
    return {row["user_id"]: tuple(row) for row in rows}


async def test_operator_summary_equals_the_seeds_query_for_every_user(
    keep: Keep, world: World, superuser: asyncpg.Connection
) -> None:
    expected = await _seed_rows(superuser)
    assert {person.user_id for person in world.people} <= set(expected)
    rows: dict[uuid.UUID, tuple[Any, ...]] = {}
    before = None
    while True:  # through the SDK, page by page, as the REST route and the CLI read it
        page = await keep.operators.user_activity(Principal.operator(), before=before, limit=7)
        for item in page.items:
            rows[item.user_id] = tuple(item.model_dump().values())
        if page.next_cursor is None:
            break
        before = page.next_cursor
    assert rows == expected
    for person in world.people:
        # The developer session was charged, the Kai session was not: two sessions, one cost.
        assert rows[person.user_id][3:5] == (2, person.token_cost)


async def test_each_user_sees_only_their_own_summary_row(
    as_app: AsApp, world: World, superuser: asyncpg.Connection
) -> None:
    expected = await _seed_rows(superuser)
    for person in world.people:
        async with as_app(Principal.user(person.user_id)) as conn:
            rows = await conn.fetch(PUBLIC_SUMMARY)
            devassist = await conn.fetch("SELECT * FROM devassist.user_activity_summary")
        assert [tuple(row) for row in rows] == [expected[person.user_id]]
        assert [tuple(row) for row in devassist] == [expected[person.user_id]]
    for principal in (None, Principal.operator()):
        async with as_app(principal) as conn:
            assert await conn.fetch(PUBLIC_SUMMARY) == []


@pytest.mark.parametrize("who", ["nobody", "user", "service", "service for a user"])
async def test_operator_function_refuses_every_other_principal(as_app: AsApp, world: World, who: str) -> None:
    principal = {
        "nobody": None,
        "user": Principal.user(world.alice.user_id),
        "service": Principal.service(),
        "service for a user": Principal.service(world.alice.user_id),
    }[who]
    async with as_app(principal) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="operator principal"):
            await conn.fetch(OPERATOR_SUMMARY)


async def test_sdk_refuses_a_non_operator_principal_and_a_bad_limit(keep: Keep, world: World) -> None:
    for principal in (Principal.user(world.alice.user_id), Principal.service(world.alice.user_id)):
        with pytest.raises(Forbidden):
            await keep.operators.user_activity(principal)
    with pytest.raises(InvalidInput) as refused:
        await keep.operators.user_activity(Principal.operator(), limit=0)
    assert refused.value.field == "limit"


async def test_app_role_bypasses_nothing_even_as_operator(
    as_app: AsApp, owner: asyncpg.Connection, world: World
) -> None:
    roles = {
        row["rolname"]: row
        for row in await owner.fetch(
            "SELECT rolname, rolbypassrls, rolsuper, rolcanlogin FROM pg_roles WHERE rolname = ANY($1)",
            [APP_ROLE, OPERATOR_ROLE],
        )
    }
    assert not roles[APP_ROLE]["rolbypassrls"] and not roles[APP_ROLE]["rolsuper"]
    assert not roles[OPERATOR_ROLE]["rolbypassrls"] and not roles[OPERATOR_ROLE]["rolsuper"]
    on_citus = await owner.fetchval("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')")
    # LOGIN on Citus only, for its inter-node connections (bootstrap.CITUS_OPERATOR_LOGIN).
    assert roles[OPERATOR_ROLE]["rolcanlogin"] is on_citus
    # The application role is not a member of the operator role: it borrows nothing from it.
    assert not await owner.fetchval("SELECT pg_has_role($1, $2, 'MEMBER')", APP_ROLE, OPERATOR_ROLE)
    async with as_app(Principal.operator()) as conn:
        for table in ("users", "agent_sessions", "conversations", "messages", "api_keys"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    async with as_app(Principal.user(world.alice.user_id)) as conn:
        assert await conn.fetchval("SELECT count(*) FROM users WHERE user_id = $1", world.bob.user_id) == 0
    # The hook and the role's policies are not the application's to use. (A transaction each, no
    # savepoints: Citus cannot roll back to one after a distributed read.)
    for refused in ("SELECT operator_audit_read(gen_random_uuid(), 'x')", f"SET LOCAL ROLE {OPERATOR_ROLE}"):
        async with as_app(Principal.user(world.alice.user_id)) as conn:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(refused)


async def test_operator_function_exposes_only_the_columns_it_needs(owner: asyncpg.Connection) -> None:
    granted = await owner.fetch(
        "SELECT table_name, column_name FROM information_schema.column_privileges"
        " WHERE grantee = $1 AND privilege_type = 'SELECT' ORDER BY 1, 2",
        OPERATOR_ROLE,
    )
    assert [tuple(row) for row in granted] == [
        # + revision 0012's operator_active_agent_sessions and operator_emergency_stop
        ("agent_sessions", "agent_id"),
        ("agent_sessions", "agent_type"),
        ("agent_sessions", "created_at"),
        ("agent_sessions", "id"),
        ("agent_sessions", "status"),
        ("agent_sessions", "token_cost"),
        ("agent_sessions", "user_id"),
        ("agent_sessions", "version"),
        ("governance_events", "agent_session_id"),
        ("governance_events", "approved"),
        ("governance_events", "user_id"),
        ("users", "deleted_at"),
        ("users", "is_active"),
        ("users", "last_active_at"),
        ("users", "user_id"),
        ("users", "username"),
    ]
    owners = await owner.fetch(
        "SELECT proname, pg_get_userbyid(proowner) AS owner, prosecdef FROM pg_proc"
        " WHERE pronamespace = 'public'::regnamespace AND proname LIKE 'operator\\_%' ORDER BY 1"
    )
    assert [tuple(row) for row in owners] == [
        ("operator_active_agent_sessions", OPERATOR_ROLE, True),
        ("operator_audit_read", OPERATOR_ROLE, False),
        ("operator_emergency_stop", OPERATOR_ROLE, True),
        ("operator_user_activity_summary", OPERATOR_ROLE, True),
    ]


# The hook, made to count its calls for the length of one transaction (rolled back after).
OPERATOR_READS = """
SELECT user_id, seq, new_values ->> 'what' AS what FROM audit_log
WHERE operation = 'ACTION' AND action_type = 'OPERATOR_READ' AND user_id = ANY($1::uuid[])
"""


async def test_every_user_read_is_audited_once(superuser: asyncpg.Connection, world: World) -> None:
    # Committed, not rolled back: on Citus one transaction cannot read placements that another
    # role (the functions' owners) wrote in it. The entries are a real trail, and stay valid.
    async def as_operator(sql: str, *args: Any) -> list[asyncpg.Record]:
        # The function runs as its owner whoever calls it; the SDK and REST tests call it as the
        # application role. (Not SET ROLE here: on Citus that SET LOCAL would be replayed on the
        # function owner's connections to the workers, which may not take the application's role.)
        async with superuser.transaction():
            await superuser.execute("SET LOCAL agentkeep.principal = 'operator'")
            return await superuser.fetch(sql, *args)

    # Other tests' operator reads of the same users came before: only this test's count.
    every_user = [row["user_id"] for row in await superuser.fetch("SELECT user_id FROM users")]
    earlier = {(row["user_id"], row["seq"]) for row in await superuser.fetch(OPERATOR_READS, every_user)}
    everyone = [row["user_id"] for row in await as_operator(OPERATOR_SUMMARY)]
    first_two = [row["user_id"] for row in await as_operator(PAGE_OF_TWO)]
    everyone_reads = await superuser.fetch(OPERATOR_READS, everyone)
    reads = [row for row in everyone_reads if (row["user_id"], row["seq"]) not in earlier]
    # Exactly the users returned, once per read, each in that user's own chain: the full read,
    # then a page of two.
    assert len(first_two) == 2
    assert sorted(row["user_id"] for row in reads) == sorted(everyone + first_two)
    assert {row["what"] for row in reads} == {"user_activity_summary"}
    for person in world.people:
        assert everyone.count(person.user_id) == 1

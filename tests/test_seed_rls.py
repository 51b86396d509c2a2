"""Seed schema: row-level security (001 and 003 policies, 004 security notes).

docs/seed-mapping.md names these tests, row by row. Every test runs against the real embedded
PostgreSQL; raw SQL runs as the application role (row-level security on) inside a transaction
that is rolled back, so the rows it writes never outlive it.
"""

from __future__ import annotations

import pytest
from asyncpg.exceptions import (
    InsufficientPrivilegeError,
)

from agentkeep.ids import new_id
from agentkeep.principal import Principal
from agentkeep.retention.rules import OPERABLE_TABLES
from seed_helpers import (
    AUDIT_TABLES,
    CATALOG_TABLES,
    USER_TABLES,
    act_as,
    add_agent_session,
    add_conversation,
    add_message,
    add_user_session,
    count,
    refused,
    suffix,
)

RETENTION_TABLES = set(OPERABLE_TABLES)
# Revision 0008: the tables the operator functions read (docs/operators.md).
OPERATOR_FUNCTION_TABLES = {"users", "agent_sessions", "governance_events"}  # + 0012's
OPERATOR_STOP_POLICIES = {
    "agent_sessions": {"agent_sessions_operator_stop": "UPDATE"},
    "governance_events": {"governance_events_operator_stop": "INSERT"},
}

# ---------------------------------------------------------------------------------------------
# Row-level security (001 policies, 003 policies, 004 security notes)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", [*USER_TABLES, *AUDIT_TABLES, *CATALOG_TABLES])
async def test_rls_policies_exist(owner, table: str) -> None:
    """003's validation query on pg_policies, for agentkeep's tables."""
    flags = await owner.fetchrow(
        "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = $1::regclass", table
    )
    assert (flags["relrowsecurity"], flags["relforcerowsecurity"]) == (True, True)
    policies = {
        row["policyname"]: row["cmd"]
        for row in await owner.fetch(
            "SELECT policyname, cmd FROM pg_policies WHERE schemaname = 'public' AND tablename = $1",
            table,
        )
    }
    if table in ("audit_log", "audit_chain_heads"):
        # Revision 0005: users read their own trail; only the owner's SECURITY DEFINER functions write.
        assert policies == {
            f"{table}_tenant": "SELECT",
            f"{table}_operator_read": "SELECT",
            f"{table}_writer": "ALL",
        }
    elif table in USER_TABLES:
        # Revisions 0004/0005: the owner, acting as the operator, reads every user's rows (profile
        # apply counts the rows using a term; audit verify checks the live rows).
        # Revision 0007: the owner, acting as the operator, may delete what retention archives.
        operator_delete = {f"{table}_operator_delete": "DELETE"} if table in RETENTION_TABLES else {}
        # Revision 0008: only the agentkeep_operator role, only as the operator (test_operator_reads.py).
        functions = {f"{table}_operator_functions": "SELECT"} if table in OPERATOR_FUNCTION_TABLES else {}
        # Revision 0009: `keys rotate-master` re-wraps every user's keys as the owner acting as operator.
        rewrap = {"vault_keys_operator_rewrap": "UPDATE"} if table == "vault_keys" else {}
        # Revision 0012: operator_emergency_stop blocks sessions and records their events.
        stop = OPERATOR_STOP_POLICIES.get(table, {})
        # Revision 0014: retention writes the aggregate rows of trust metrics as the operator.
        aggregate = {"trust_metrics_operator_insert": "INSERT"} if table == "trust_metrics" else {}
        assert (
            policies
            == {f"{table}_tenant": "ALL", f"{table}_operator_read": "SELECT"}
            | operator_delete
            | functions
            | rewrap
            | stop
            | aggregate
        )
    else:
        assert policies == {
            f"{table}_read": "SELECT",
            f"{table}_insert": "INSERT",
            f"{table}_update": "UPDATE",
            f"{table}_delete": "DELETE",
        }


async def test_rls_hides_other_users_rows(as_app, make_user) -> None:
    alice, bob = await make_user(), await make_user()
    async with as_app(Principal.user(alice.user_id)) as conn:
        session = await add_agent_session(conn, alice.user_id)
        conversation = await add_conversation(conn, alice.user_id, agent_session_id=session)
        await add_message(conn, alice.user_id, conversation)
        await add_user_session(conn, alice.user_id)
        await act_as(conn, bob.user_id)
        for table in USER_TABLES:
            assert await count(conn, table, alice.user_id) == 0, table
        assert await conn.fetchval("SELECT count(*) FROM users") == 1  # only bob himself
        assert (
            await conn.execute("UPDATE conversations SET title = 'mine' WHERE id = $1", conversation)
            == "UPDATE 0"
        )
        assert await conn.execute("DELETE FROM agent_sessions WHERE id = $1", session) == "DELETE 0"
        await act_as(conn, alice.user_id)
        assert await count(conn, "messages", alice.user_id) == 1
        assert (
            await conn.fetchval(
                "SELECT title FROM conversations WHERE user_id = $1 AND id = $2",
                alice.user_id,
                conversation,
            )
            is None
        )


async def test_rls_refuses_writing_rows_of_another_user(as_app, make_user) -> None:
    alice, bob = await make_user(), await make_user()
    async with as_app(Principal.user(alice.user_id)) as conn:
        await refused(
            conn,
            InsufficientPrivilegeError,
            "INSERT INTO conversations (user_id, id) VALUES ($1, $2)",
            bob.user_id,
            new_id(),
        )
        conversation = await add_conversation(conn, alice.user_id)
        await refused(
            conn,
            InsufficientPrivilegeError,
            "UPDATE conversations SET user_id = $2 WHERE user_id = $1 AND id = $3",
            alice.user_id,
            bob.user_id,
            conversation,
        )


@pytest.mark.parametrize("principal", [None, "service"])
async def test_rls_fails_closed_without_an_acting_user(as_app, make_user, principal: str | None) -> None:
    await make_user()
    async with as_app(Principal.service() if principal else None) as conn:
        for table in USER_TABLES:
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
        await refused(
            conn,
            InsufficientPrivilegeError,
            "INSERT INTO users (user_id, email) VALUES ($1, $2)",
            new_id(),
            f"n-{suffix()}@example.com",
        )

"""The audit log is append-only for everyone: the application role may only read its own
entries; the owner is stopped by triggers; only redaction's narrow change passes. Action entries
(seed 002's agent_audit_log) and the seeds' views."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from agentkeep.audit.actions import record_action
from agentkeep.database.engine import Database
from agentkeep.keep import Keep
from agentkeep.principal import Principal
from audit_support import NIL, entries, superuser, user_with_rows


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET operation = 'INSERT'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "INSERT INTO audit_log (user_id, seq, id, occurred_at, operation, actor, payload_hash, prev_hash,"
        " entry_hash) SELECT user_id, seq + 1000, id, occurred_at, operation, actor, payload_hash, prev_hash,"
        " entry_hash FROM audit_log",
        "UPDATE audit_chain_heads SET seq = 1",
        "SELECT audit_append(NULL, NULL, NULL, 'ACTION', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        "SELECT audit_redact(NULL)",
    ],
)
async def test_the_application_role_cannot_change_the_trail(statement: str, keep: Keep, as_app: Any) -> None:
    user = await user_with_rows(keep, messages=1)
    async with as_app(Principal.user(user.user_id)) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)


async def test_the_application_role_reads_only_its_own_entries(keep: Keep, as_app: Any) -> None:
    alice = await user_with_rows(keep, messages=1)
    bob = await user_with_rows(keep, messages=1)
    async with as_app(Principal.user(alice.user_id)) as conn:
        users = {row[0] for row in await conn.fetch("SELECT DISTINCT user_id FROM audit_log")}
        assert users == {alice.user_id}
        assert await entries(conn, bob.user_id) == []


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET operation = 'INSERT' WHERE user_id = $1",
        "UPDATE audit_log SET new_values = '{}' WHERE user_id = $1",
        # Redaction's shape, but a header column changes too.
        "UPDATE audit_log SET old_values = NULL, new_values = NULL, record_id = NULL, ip_address = NULL,"
        " user_agent = NULL, redacted_at = now(), actor = 'x' WHERE user_id = $1",
        "DELETE FROM audit_log WHERE user_id = $1",
    ],
)
async def test_the_owner_is_stopped_by_the_guard(statement: str, keep: Keep, owner: Any) -> None:
    user = await user_with_rows(keep, messages=1)
    async with owner.transaction():
        await owner.execute("SET LOCAL agentkeep.principal = 'operator'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await owner.execute(statement, user.user_id)


async def test_not_even_a_superuser_truncates_or_deletes_with_triggers_on(
    keep: Keep, database: Database
) -> None:
    await user_with_rows(keep, messages=1)
    async with superuser(database) as conn:
        for statement in ("TRUNCATE audit_log", "DELETE FROM audit_log"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(statement)


async def test_actions_go_into_the_acting_users_chain_only(keep: Keep, as_app: Any) -> None:
    alice = await user_with_rows(keep, messages=0)
    bob = await user_with_rows(keep, messages=0)
    async with as_app(Principal.user(alice.user_id)) as conn:
        entry_id = await record_action(
            conn,
            user_id=alice.user_id,
            action_type="decision_made",
            details={"choice": "a"},
            risk_level="low",
            ip_address="10.1.2.3",
            user_agent="tests",
        )
        row = await conn.fetchrow(
            "SELECT operation, action_type, new_values::text, risk_level, host(ip_address)"
            " FROM audit_log WHERE id = $1",
            entry_id,
        )
        assert tuple(row) == ("ACTION", "decision_made", '{"choice": "a"}', "low", "10.1.2.3")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="acting user"):
            await record_action(conn, user_id=bob.user_id, action_type="forged", details={})


async def test_seed_002_agent_audit_log_takes_inserts_and_reads_them_back(keep: Keep, as_app: Any) -> None:
    user = await user_with_rows(keep, messages=0)
    async with as_app(Principal.user(user.user_id)) as conn:
        await conn.execute(
            "INSERT INTO agentic.agent_audit_log"
            " (action_type, action_details, risk_level, user_id, ip_address, user_agent)"
            " VALUES ('tool_call', '{\"tool\": \"search\"}', 'high', $1, '192.0.2.1', 'agent/1.0')",
            user.user_id,
        )
        row = await conn.fetchrow(
            "SELECT action_type, action_details->>'tool' AS tool, risk_level, user_id, host(ip_address) AS ip"
            " FROM agentic.agent_audit_log WHERE risk_level = 'high'"
        )
        assert tuple(row) == ("tool_call", "search", "high", user.user_id, "192.0.2.1")


async def test_seed_001_audit_log_view_shows_row_changes(keep: Keep, as_app: Any) -> None:
    user = await user_with_rows(keep, messages=1, text="seen in the view")
    async with as_app(Principal.user(user.user_id)) as conn:
        rows = await conn.fetch(
            "SELECT table_name, record_id, operation, new_values->>'content' AS content, changed_by"
            " FROM devassist.audit_log WHERE table_name = 'messages'"
        )
    assert [(row["operation"], row["content"]) for row in rows] == [("INSERT", "seen in the view 0")]
    assert uuid.UUID(rows[0]["record_id"])
    assert rows[0]["changed_by"] == str(user.user_id)


async def test_risk_level_is_indexed(owner: Any) -> None:
    definition = await owner.fetchval(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_audit_log_risk_level'"
    )
    assert "(risk_level)" in definition


async def test_catalog_writes_go_to_the_operator_chain(keep: Keep, owner: Any) -> None:
    async with owner.transaction():
        await owner.execute("SET LOCAL agentkeep.principal = 'operator'")
        before = await owner.fetchval("SELECT seq FROM audit_chain_heads WHERE user_id = $1", NIL)
    await user_with_rows(keep, messages=0)  # creates an agent and a persona
    async with owner.transaction():
        await owner.execute("SET LOCAL agentkeep.principal = 'operator'")
        tables = [row["table_name"] for row in await entries(owner, NIL, before)]
    assert tables == ["agents", "personas"]

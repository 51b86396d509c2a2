"""Redaction for erasure: a user's personal content leaves the audit trail (no canary string in
any table nor in a pg_dump), the redaction is itself recorded, and every chain still verifies.
The independent verifier (examples/verify_audit.py) agrees with the built-in one."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

from agentkeep.audit.actions import record_action
from agentkeep.audit.repository import audited_tables
from agentkeep.audit.service import verify_on
from agentkeep.conversations.models import NewConversation
from agentkeep.database.engine import Database
from agentkeep.database.urls import asyncpg_dsn
from agentkeep.keep import Keep
from agentkeep.messages.models import NewMessage
from agentkeep.principal import Principal
from agentkeep.schema import metadata
from agentkeep.user_sessions.models import NewUserSession
from agentkeep.users.models import NewUser
from audit_support import NIL, pg_dump_data, superuser, tables_holding

ROOT = Path(__file__).resolve().parent.parent
VERIFIER = ROOT / "examples" / "verify_audit.py"


async def _user_full_of_canaries(keep: Keep) -> tuple[uuid.UUID, list[str]]:
    mark = uuid.uuid4().hex[:10]
    canaries = [f"canary{n}x{mark}" for n in range(7)]
    user = await keep.users.create(
        NewUser(email=f"{canaries[0]}@example.com", username=canaries[1], full_name=canaries[2])
    )
    chat = await keep.conversations.create(user.user_id, NewConversation(title=canaries[3]))
    await keep.messages.append(user.user_id, chat.id, NewMessage(role="user", content=canaries[4]))
    await keep.user_sessions.start(user.user_id, NewUserSession(user_agent=canaries[5]))
    async with keep.database.transaction(Principal.user(user.user_id)) as tx:
        await record_action(
            tx.conn,
            user_id=user.user_id,
            action_type="note",
            details={"said": canaries[6]},
            user_agent=canaries[6],
        )
    return user.user_id, canaries


async def test_redaction_removes_every_canary_and_chains_still_verify(keep: Keep, database: Database) -> None:
    user_id, canaries = await _user_full_of_canaries(keep)
    assert "public.audit_log" in await tables_holding(database, canaries)
    async with keep.database.transaction(Principal.service(user_id)) as tx:  # erasure: the rows go
        for table in ("user_emails", "user_usernames", "users"):  # handle tables have no cascade
            await tx.driver.execute(f"DELETE FROM {table} WHERE user_id = $1", user_id)
    redacted = await keep.audit.redact(user_id)
    assert redacted > 5
    assert await tables_holding(database, canaries) == []
    dump = await pg_dump_data(database)
    assert "audit_log" in dump
    assert [canary for canary in canaries if canary in dump] == []
    report = await keep.audit.verify()
    assert report.ok, (report.breaks, report.live_rows)
    async with superuser(database) as conn:
        recorded = await conn.fetchrow(
            "SELECT action_type, new_values FROM audit_log WHERE user_id = $1 ORDER BY seq DESC LIMIT 1", NIL
        )
    assert recorded["action_type"] == "REDACT"
    assert f'"entries": {redacted}' in recorded["new_values"] and str(user_id) in recorded["new_values"]


async def test_a_redacted_user_who_stays_still_has_live_rows_checked(keep: Keep, database: Database) -> None:
    user_id, _canaries = await _user_full_of_canaries(keep)
    await keep.audit.redact(user_id)
    assert (await keep.audit.verify(user_id)).ok
    async with superuser(database) as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute("UPDATE users SET full_name = 'changed' WHERE user_id = $1", user_id)
            report = await verify_on(conn, audited_tables(metadata), user_id)
        finally:
            await transaction.rollback()
    assert report.breaks == []
    assert [(p.table_name, p.problem) for p in report.live_rows] == [
        ("users", "live row differs from its last audit entry (changed without the audit trigger)")
    ]


def _independent(dsn: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own example
        [sys.executable, str(VERIFIER), dsn], capture_output=True, text=True, timeout=120, check=False
    )


async def test_the_independent_verifier_agrees_with_the_built_in_one(keep: Keep, database: Database) -> None:
    report = await keep.audit.verify(live_rows=False)
    result = await asyncio.to_thread(_independent, asyncpg_dsn(database.urls.owner))
    assert report.ok
    assert (result.returncode, result.stdout.strip()) == (0, f"ok {report.entries}")
    assert len(VERIFIER.read_text().splitlines()) <= 70

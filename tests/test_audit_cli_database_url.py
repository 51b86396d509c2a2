"""``agentkeep audit verify`` on a database given by URL, the way it runs against a server it did
not start: a Citus coordinator in the suite's cluster mode (.ci/citus-tests).
Clean, then a forged entry named with exit 1, then clean again once it is put back."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import asyncpg
import pytest

from agentkeep.database.engine import Database
from agentkeep.database.urls import asyncpg_dsn
from agentkeep.keep import Keep
from audit_support import ON_CITUS, superuser, user_with_rows
from cli_support import cli

# The settings take a host in the URL, which the embedded server's socket URLs have not.
pytestmark = pytest.mark.skipif(
    not ON_CITUS, reason="on the embedded server tests/test_audit_cli.py runs the same commands"
)


async def _verify(database: Database, home: Path, *args: str) -> tuple[int, str, str]:
    result = await asyncio.to_thread(
        cli,
        home,
        "audit",
        "verify",
        *args,
        AGENTKEEP_DATABASE_URL=asyncpg_dsn(database.urls.owner),
        AGENTKEEP_APP_DATABASE_URL=asyncpg_dsn(database.urls.app),
    )
    return result.returncode, result.stdout, result.stderr


async def _set_entry(conn: asyncpg.Connection, user_id: uuid.UUID, seq: int, new_values: str) -> None:
    async with conn.transaction():
        # The append-only guard (on a cluster: on every worker's shards too) lets nothing through.
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(
            "UPDATE audit_log SET new_values = $3::jsonb WHERE user_id = $1 AND seq = $2",
            user_id,
            seq,
            new_values,
        )


async def test_verify_names_a_forged_entry_and_passes_once_it_is_put_back(
    keep: Keep, database: Database, tmp_path: Path
) -> None:
    user = await user_with_rows(keep, messages=2, text="cli on a url")
    code, out, err = await _verify(database, tmp_path, "--json")
    assert code == 0, err
    assert json.loads(out)["ok"] is True
    async with superuser(database) as conn:
        seq, original = await conn.fetchrow(
            "SELECT seq, new_values::text FROM audit_log WHERE user_id = $1 AND table_name = 'messages'"
            " ORDER BY seq LIMIT 1",
            user.user_id,
        )
        forged = json.dumps(json.loads(original) | {"content": "forged"})
        await _set_entry(conn, user.user_id, seq, forged)
        try:
            code, out, err = await _verify(database, tmp_path, "--user", str(user.user_id))
        finally:
            await _set_entry(conn, user.user_id, seq, original)
    assert code == 1
    assert f"chain {user.user_id} seq {seq}: payload differs" in err
    code, out, err = await _verify(database, tmp_path, "--user", str(user.user_id), "--json")
    assert (code, json.loads(out)["ok"]) == (0, True), err

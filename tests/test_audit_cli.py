"""``agentkeep audit verify|head|redact`` against a database of its own: a clean run, a broken
chain named with exit 1 (and the independent verifier naming the same link), a rolled-back chain
caught with --against, and bad input as one line."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import asyncpg
import pytest

from agentkeep.database import migrate
from agentkeep.database.embedded import EmbeddedServer
from agentkeep.database.engine import Database
from agentkeep.database.urls import DatabaseUrls, asyncpg_dsn
from agentkeep.keep import Keep
from agentkeep.schema import SCHEMA
from agentkeep.settings import load_settings
from audit_support import user_with_rows
from cli_support import cli, one_error_line

pytestmark = pytest.mark.no_citus("tampers as a superuser in a database of its own")

VERIFIER = Path(__file__).resolve().parent.parent / "examples" / "verify_audit.py"


async def _run(server: EmbeddedServer, database: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The command attached to the tests' embedded server (through its data folder), on ``database``."""
    home = server.pgdata.parent
    return await asyncio.to_thread(cli, home, "audit", *args, AGENTKEEP_DATABASE_NAME=database)


async def test_verify_head_against_and_redact(
    database_factory: Callable[[str], AbstractAsyncContextManager[DatabaseUrls]],
    embedded_server: EmbeddedServer,
    tmp_path: Path,
) -> None:
    async with database_factory("agentkeep_audit_cli") as urls:
        database = Database.from_urls(urls, schema=SCHEMA)
        try:
            await migrate.upgrade(database)
            keep = Keep(database, load_settings())
            user = await user_with_rows(keep, messages=2)
        finally:
            await database.close()
        url = "agentkeep_audit_cli"
        clean = await _run(embedded_server, url, "verify", "--json")
        assert clean.returncode == 0, clean.stderr
        assert json.loads(clean.stdout)["ok"] is True
        head = await _run(embedded_server, url, "head")
        saved = tmp_path / "heads.json"
        saved.write_text(head.stdout)
        seq = json.loads(head.stdout)[str(user.user_id)]["seq"]

        assert urls.superuser is not None
        admin = await asyncpg.connect(asyncpg_dsn(urls.superuser.set(database=urls.owner.database)))
        try:
            await admin.execute("SET session_replication_role = replica")
            await admin.execute(
                "UPDATE audit_log SET new_values = jsonb_set(new_values, '{content}', '\"forged\"')"
                " WHERE user_id = $1 AND table_name = 'messages' AND seq = (SELECT min(seq) FROM audit_log"
                " WHERE user_id = $1 AND table_name = 'messages')",
                user.user_id,
            )
            forged = await admin.fetchval(
                "SELECT seq FROM audit_log WHERE user_id = $1 AND new_values->>'content' = 'forged'",
                user.user_id,
            )
        finally:
            await admin.close()
        broken = await _run(embedded_server, url, "verify", "--user", str(user.user_id))
        assert broken.returncode == 1
        assert f"chain {user.user_id} seq {forged}: payload differs" in broken.stderr
        independent = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, str(VERIFIER), asyncpg_dsn(urls.owner)],
            capture_output=True,
            text=True,
        )
        assert independent.returncode == 1
        assert independent.stdout.strip() == f"{user.user_id} {forged} payload differs"

        redacted = await _run(embedded_server, url, "redact", "--user", str(user.user_id))
        assert redacted.returncode == 0 and "redacted" in redacted.stdout
        after = await _run(embedded_server, url, "verify", "--json", "--against", str(saved))
        report = json.loads(after.stdout)
        # The forged payload is gone with the redaction, but the saved heads still hold.
        assert (after.returncode, report["breaks"]) == (0, []), after.stderr
        assert seq > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("verify", "--user", "nobody"), "--user: 'nobody' is not a user id"),
        (("redact", "--user", "x"), "--user: 'x' is not a user id"),
        (("verify", "--against", "/nonexistent/heads.json"), "--against: cannot read"),
    ],
)
async def test_bad_input_is_one_line(
    args: tuple[str, ...], message: str, embedded_server: EmbeddedServer, database: Database
) -> None:
    result = await _run(embedded_server, str(database.urls.owner.database), *args)
    assert result.returncode == 1
    assert message in one_error_line(result)


async def test_against_a_file_that_is_not_heads(
    tmp_path: Path, embedded_server: EmbeddedServer, database: Database
) -> None:
    bad = tmp_path / "heads.json"
    bad.write_text(json.dumps({str(uuid.uuid4()): {"seq": "x"}}))
    result = await _run(embedded_server, str(database.urls.owner.database), "verify", "--against", str(bad))
    assert result.returncode == 1
    assert "saved heads" in one_error_line(result)

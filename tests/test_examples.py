"""examples/ run as files, as the README tells a new user to run them."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url

from agentkeep.database.embedded import EmbeddedServer
from agentkeep.database.engine import Database
from agentkeep.keep import Keep

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "examples" / "quickstart.py"
FIRST_LINE = re.compile(
    r"^user ([0-9a-f-]{36}) \((grace-[0-9a-f]{8}@example\.com)\), conversation ([0-9a-f-]{36})$"
)
REPLY = "Hello! How can I help?"


async def test_the_quickstart_runs_as_a_file_on_the_embedded_server(
    embedded_server: EmbeddedServer, database: Database, keep: Keep
) -> None:
    """As the README runs it: no database URL, so it attaches to the embedded server (the tests'
    one here, through its data folder) and uses the tests' database in it."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AGENTKEEP_")}
    env |= {
        "AGENTKEEP_DATA_DIR": str(embedded_server.pgdata.parent),
        "AGENTKEEP_DATABASE_NAME": str(make_url(database.urls.owner).database),
        # The run's master key (conftest): the vault of the tests' database is under it.
        "AGENTKEEP_MASTER_KEY": os.environ["AGENTKEEP_MASTER_KEY"],
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(QUICKSTART),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    first, *transcript = out.decode().splitlines()
    match = FIRST_LINE.match(first)
    assert match is not None, first
    assert transcript == ["user: Hello", f"assistant: {REPLY}"]
    user_id, email, conversation_id = uuid.UUID(match[1]), match[2], uuid.UUID(match[3])
    assert (await keep.users.get(user_id)).email == email
    stored = await keep.messages.latest(user_id, conversation_id, limit=50)
    assert [(m.role, m.content) for m in stored] == [("user", "Hello"), ("assistant", REPLY)]

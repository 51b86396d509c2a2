"""``agentkeep trust show|history|metrics USER AGENT`` through the installed command, on an
embedded server of its own."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentkeep.keep import Keep
from agentkeep.settings import Settings
from agentkeep.users.models import NewUser
from cli_support import cli, one_error_line, table_rows
from test_cli import _stop_leftover_server
from trust_support import agent, decide, session

DB = {"AGENTKEEP_DATABASE_NAME": "cli_trust"}


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="aktrust", dir="/tmp"))
    yield path
    _stop_leftover_server(path)
    shutil.rmtree(path, ignore_errors=True)


async def _earned(home: Path) -> tuple[uuid.UUID, uuid.UUID, str]:
    settings = Settings(data_dir=home, database_name=DB["AGENTKEEP_DATABASE_NAME"])
    async with await Keep.connect(settings) as keep:
        user = await keep.users.create(NewUser(email=f"cli-{uuid.uuid4().hex[:8]}@example.com"))
        agent_id = await agent(keep)
        run = await session(keep, user.user_id, agent_id)
        for _ in range(5):
            await decide(keep, user.user_id, run, "approved")
        name = (await keep.agents.get(agent_id)).name
    return user.user_id, agent_id, name


def test_trust_show_history_and_metrics(home: Path) -> None:
    migrated = cli(home, "migrate", "up", **DB)
    assert migrated.returncode == 0, migrated.stderr
    user, agent_id, name = asyncio.run(_earned(home))

    shown = cli(home, "trust", "show", str(user), str(agent_id), "--json", **DB)
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert (document["level"], document["approved"], document["outcomes"]) == (1, 5, 5)
    by_name = cli(home, "trust", "show", str(user), name, **DB)
    assert by_name.returncode == 0, by_name.stderr
    assert by_name.stdout.startswith("level L1")
    history = cli(home, "trust", "history", str(user), name, **DB)
    assert history.returncode == 0, history.stderr
    [row] = table_rows(history.stdout, "20")
    assert "L0" in row and "L1" in row and "promotion" in row
    metrics = json.loads(
        cli(home, "trust", "metrics", str(user), name, "--type", "accuracy", "--json", **DB).stdout
    )
    assert metrics[0]["metric_value"] == "56.55"  # the newest: 5 of 5 approved

    for args, named in [
        (("show", "nope", str(agent_id)), "USER"),
        (("show", str(user), "no-such-agent"), "AGENT"),
        (("history", str(user), name, "--before", "x"), "--before"),
    ]:
        failed = cli(home, "trust", *args, **DB)
        assert failed.returncode == 1
        assert named in one_error_line(failed)
    stranger = json.loads(cli(home, "trust", "show", str(uuid.uuid4()), str(agent_id), "--json", **DB).stdout)
    assert (stranger["level"], stranger["has_record"]) == (0, False)

"""``agentkeep retention run``: output for people and programs, one-line errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from cli_support import cli, one_error_line
from retention_support import Scratch, agent_session, ago, scratch_database, user_session

UNREACHABLE = "postgresql://agentkeep:x@127.0.0.1:9/agentkeep"


@pytest.fixture
async def scratch(database_factory: Any, tmp_path: Path) -> AsyncIterator[Scratch]:
    async for made in scratch_database(database_factory, tmp_path / "archive", "devassist"):
        yield made


def _with_host(url: URL) -> str:
    """The URL as a setting: the embedded server's socket stays in ``?host=``; the settings'
    URL type wants a host name as well, which the socket parameter then overrides."""
    return url.set(host=url.host or "localhost").render_as_string(hide_password=False)


def _connection(scratch: Scratch) -> dict[str, str]:
    return {
        "AGENTKEEP_DATABASE_URL": _with_host(scratch.urls.owner),
        "AGENTKEEP_APP_DATABASE_URL": _with_host(scratch.urls.app),
        "AGENTKEEP_ARCHIVE_DIR": str(scratch.archive_root),
    }


async def test_dry_run_then_run_from_the_command_line(scratch: Scratch, tmp_path: Path) -> None:
    user_id = await scratch.new_user()
    await scratch.write(
        user_id,
        [user_session(ended=ago(years=3)), agent_session(status="completed", completed=ago(years=2))],
    )
    dry = cli(tmp_path, "retention", "run", "--dry-run", "--json", **_connection(scratch))
    assert dry.returncode == 0, dry.stderr
    document = json.loads(dry.stdout)
    assert {t["table"]: t["due"] for t in document["tables"]} == {
        "governance_events": 0,
        "agent_sessions": 1,
        "user_sessions": 1,
    }
    assert document["rows_deleted"] == 0 and not scratch.archive_root.exists()

    done = cli(tmp_path, "retention", "run", **_connection(scratch))
    assert done.returncode == 0, done.stderr
    assert "archived 2 rows, deleted 2; manifest " in done.stdout
    assert "note:" not in done.stdout  # every devassist rule has its table (0012 made governance_events)
    [manifest] = scratch.archive_root.glob("*/manifest.json")
    assert str(manifest) in done.stdout


def test_a_profile_with_an_unknown_table_is_one_line_before_any_database(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'schema_version = 1\nname = "bad"\nversion = "1.0.0"\n[retention.rules.chat_logs]\nactive = "P1Y"\n'
    )
    result = cli(tmp_path, "retention", "run", "--profile", str(bad), AGENTKEEP_DATABASE_URL=UNREACHABLE)
    assert result.returncode == 1
    line = one_error_line(result)
    assert "retention.rules.chat_logs" in line and "bad.toml" in line


async def test_a_rule_the_database_cannot_run_is_one_line(scratch: Scratch, tmp_path: Path) -> None:
    custom = tmp_path / "custom.toml"
    custom.write_text(
        'schema_version = 1\nname = "custom"\nversion = "1.0.0"\n'
        '[retention.rules.messages]\nactive = "P1Y"\nmeasured_from = "ended_at"\n'
    )
    result = cli(tmp_path, "retention", "run", "--profile", str(custom), **_connection(scratch))
    assert result.returncode == 1
    assert one_error_line(result) == (
        "error: retention.rules.messages.measured_from: table messages has no column ended_at"
    )


def test_unreachable_database_and_bad_settings_are_one_line(tmp_path: Path) -> None:
    unreachable = cli(tmp_path, "retention", "run", AGENTKEEP_DATABASE_URL=UNREACHABLE)
    assert unreachable.returncode == 1
    assert one_error_line(unreachable).startswith("error: database: ")
    negative = cli(tmp_path, "retention", "run", "--dry-run", AGENTKEEP_RETENTION_INTERVAL_SECONDS="-1")
    assert negative.returncode == 1
    assert one_error_line(negative).startswith("error: AGENTKEEP_RETENTION_INTERVAL_SECONDS: ")

"""``agentkeep decisions list|show|feedback`` and seed 000's ``migrate.py --table kai_decisions`` /
``--status`` as ``agentkeep migrate up --table`` / ``migrate status`` under the ``kai`` profile,
through the installed command on an embedded server of their own."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from agentkeep.decisions.models import NewDecision
from agentkeep.keep import Keep
from agentkeep.settings import Settings
from agentkeep.users.models import NewUser
from cli_support import cli, one_error_line, table_rows
from test_cli import _stop_leftover_server

DB = {"AGENTKEEP_DATABASE_NAME": "cli_decisions"}


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="akclidec", dir="/tmp"))
    yield path
    _stop_leftover_server(path)
    shutil.rmtree(path, ignore_errors=True)


def test_migrate_by_the_seeds_table_names_under_kai(home: Path) -> None:
    db = {"AGENTKEEP_DATABASE_NAME": "cli_seed_tables"}
    # 000: python db/migrate.py --table kai_sessions (agent_sessions, revision 0001)
    first = cli(home, "migrate", "up", "--table", "kai_sessions", "--profile", "kai", "--json", **db)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"migrated": "up", "revision": "0001"}
    status = cli(home, "migrate", "status", "--json", AGENTKEEP_PROFILE="kai", **db)
    revisions = {row["revision"]: row for row in json.loads(status.stdout)["revisions"]}
    assert revisions["0001"]["is_applied"] and not revisions["0010"]["is_applied"]
    assert revisions["0010"]["seed_tables"] == {"decisions": ["kai_decisions"]}
    # 000: python db/migrate.py --table kai_decisions, with the profile from AGENTKEEP_PROFILE
    second = cli(home, "migrate", "up", "--table", "kai_decisions", AGENTKEEP_PROFILE="kai", **db)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "migrated up to 0010"
    # 000: python db/migrate.py --status
    shown = cli(home, "migrate", "status", "--profile", "kai", **db)
    [row] = table_rows(shown.stdout, "0010")
    assert "applied" in row and "decisions (kai_decisions)" in row
    # Without the profile the seed's names mean nothing; an unknown name is one line.
    plain = cli(home, "migrate", "up", "--table", "kai_decisions", **db)
    assert plain.returncode == 1
    assert "kai_decisions" in one_error_line(plain)
    unknown = cli(home, "migrate", "up", "--table", "kai_trades", "--profile", "kai", **db)
    assert unknown.returncode == 1
    assert "kai_trades" in (line := one_error_line(unknown)) and "kai_sessions" in line
    bad_profile = cli(home, "migrate", "status", "--profile", "nope", **db)
    assert bad_profile.returncode == 1
    assert "nope" in one_error_line(bad_profile)


async def _decisions(home: Path, user_email: str) -> tuple[uuid.UUID, list[uuid.UUID]]:
    settings = Settings(data_dir=home, database_name=DB["AGENTKEEP_DATABASE_NAME"])
    async with await Keep.connect(settings) as keep:
        user = await keep.users.create(NewUser(email=user_email))
        made = [
            await keep.decisions.create(
                user.user_id,
                NewDecision(decision_type=kind, subject=ticker, confidence_score=Decimal("0.70")),
            )
            for kind, ticker in (("buy", "NVDA"), ("hold", "AAPL"), ("buy", "AAPL"))
        ]
    return user.user_id, [decision.id for decision in made]


def test_decisions_list_show_and_feedback(home: Path) -> None:
    migrated = cli(home, "migrate", "up", **DB)
    assert migrated.returncode == 0, migrated.stderr
    user, (first, _second, third) = asyncio.run(_decisions(home, f"cli-{uuid.uuid4().hex[:8]}@example.com"))

    listed = cli(
        home, "decisions", "list", "--user", str(user), "--subject", "AAPL", "--limit", "1", "--json", **DB
    )
    assert listed.returncode == 0, listed.stderr
    page = json.loads(listed.stdout)
    assert [item["id"] for item in page["items"]] == [str(third)]
    assert page["next_cursor"] == str(third)
    table = cli(home, "decisions", "list", "--user", str(user), "--type", "buy", **DB)
    assert [row.split("│")[1].strip() for row in table_rows(table.stdout, "01")] == [str(third), str(first)]

    given = cli(
        home, "decisions", "feedback", str(first), "approved", "--user", str(user), "--version", "1", **DB
    )
    assert given.returncode == 0, given.stderr
    assert given.stdout.strip() == f"decision {first}: approved (version 2)"
    shown = json.loads(cli(home, "decisions", "show", str(first), "--user", str(user), "--json", **DB).stdout)
    assert (shown["user_feedback"], shown["feedback_by"], shown["version"]) == ("approved", "service", 2)

    stale = cli(
        home, "decisions", "feedback", str(first), "rejected", "--user", str(user), "--version", "1", **DB
    )
    assert stale.returncode == 1
    assert "version" in one_error_line(stale)
    outside = cli(home, "decisions", "feedback", str(first), "maybe", "--user", str(user), **DB)
    assert outside.returncode == 1
    assert "user_feedback" in one_error_line(outside)
    not_a_uuid = cli(home, "decisions", "show", "nope", "--user", str(user), **DB)
    assert not_a_uuid.returncode == 1
    assert "decision_id" in one_error_line(not_a_uuid)
    someone_else = cli(home, "decisions", "show", str(first), "--user", str(uuid.uuid4()), **DB)
    assert someone_else.returncode == 1
    assert "not found" in one_error_line(someone_else)
    after = json.loads(cli(home, "decisions", "show", str(first), "--user", str(user), "--json", **DB).stdout)
    assert after["user_feedback"] == "approved"

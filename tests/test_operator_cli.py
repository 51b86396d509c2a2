"""``agentkeep operator-key create|list|revoke`` and ``agentkeep report user-activity``, run as a
script runs them: the installed command, its own embedded server, no terminal."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_support import cli, one_error_line, table_rows

DB = {"AGENTKEEP_DATABASE_NAME": "cli_operators"}


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="akops", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _new_user(home: Path) -> uuid.UUID:
    created = cli(
        home, "users", "create", "--email", f"ops-{uuid.uuid4().hex[:8]}@example.com", "--json", **DB
    )
    assert created.returncode == 0, created.stderr
    return uuid.UUID(json.loads(created.stdout)["user"]["user_id"])


@pytest.mark.no_citus("the CLI starts its own embedded server")
def test_operator_keys_from_the_cli(home: Path) -> None:
    created = cli(home, "operator-key", "create", "--name", "night shift", **DB)
    assert created.returncode == 0, created.stderr
    assert re.fullmatch(r"ako_\S{20,}", created.stdout.strip()), created.stdout
    as_json = json.loads(cli(home, "operator-key", "create", "--json", **DB).stdout)
    assert as_json["secret"].startswith("ako_") and as_json["user_id"] is None

    listed = cli(home, "operator-key", "list", "--json", **DB)
    keys = {key["id"]: key for key in json.loads(listed.stdout)}
    assert as_json["id"] in keys and "secret" not in keys[as_json["id"]]
    assert [key["name"] for key in keys.values()].count("night shift") == 1
    table = cli(home, "operator-key", "list", **DB)
    assert len(table_rows(table.stdout, as_json["id"])) == 1

    revoked = cli(home, "operator-key", "revoke", as_json["id"], **DB)
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.strip() == f"revoked {as_json['id']}"
    again = cli(home, "operator-key", "revoke", as_json["id"], **DB)
    assert again.returncode == 1
    assert "no active operator key" in one_error_line(again)
    not_uuid = cli(home, "operator-key", "revoke", "nope", **DB)
    assert not_uuid.returncode == 1
    assert "key_id" in one_error_line(not_uuid)
    too_long = cli(home, "operator-key", "create", "--name", "x" * 101, **DB)
    assert too_long.returncode == 1
    assert "name" in one_error_line(too_long)


@pytest.mark.no_citus("the CLI starts its own embedded server")
def test_report_user_activity_lists_every_user(home: Path) -> None:
    first, second = _new_user(home), _new_user(home)
    as_json = cli(home, "report", "user-activity", "--json", **DB)
    assert as_json.returncode == 0, as_json.stderr
    rows = {row["user_id"]: row for row in json.loads(as_json.stdout)}
    assert {str(first), str(second)} <= set(rows)
    assert rows[str(second)]["total_sessions"] == 0 and rows[str(second)]["total_cost"] is None
    newest = json.loads(cli(home, "report", "user-activity", "--limit", "1", "--json", **DB).stdout)
    assert [row["user_id"] for row in newest] == [max(rows)]
    table = cli(home, "report", "user-activity", **DB)
    assert table.returncode == 0, table.stderr
    [line] = table_rows(table.stdout, str(first))
    assert " 0 " in line
    bad = cli(home, "report", "user-activity", "--limit", "0", **DB)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr

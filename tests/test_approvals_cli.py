"""``agentkeep approvals list|approve|deny``, run as a script runs them (its own embedded server)."""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_support import cli, one_error_line

DB = {"AGENTKEEP_DATABASE_NAME": "cli_approvals"}


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="akgov", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.no_citus("the CLI starts its own embedded server")
def test_approvals_list_and_decisions_from_the_cli(home: Path) -> None:
    created = cli(
        home, "users", "create", "--email", f"gov-{uuid.uuid4().hex[:8]}@example.com", "--json", **DB
    )
    assert created.returncode == 0, created.stderr
    user = json.loads(created.stdout)["user"]["user_id"]
    listed = cli(home, "approvals", "list", user, "--json", **DB)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    missing = cli(home, "approvals", "approve", user, str(uuid.uuid4()), **DB)
    assert missing.returncode == 1
    assert one_error_line(missing) == "error: agent session not found"
    not_uuid = cli(home, "approvals", "deny", "nobody", str(uuid.uuid4()), **DB)
    assert (not_uuid.returncode, one_error_line(not_uuid)) == (1, "error: USER: 'nobody' is not a UUID")
    bad_type = cli(home, "approvals", "deny", user, str(uuid.uuid4()), "--event-type", "nap", **DB)
    assert bad_type.returncode == 1
    assert one_error_line(bad_type).startswith("error: --event-type:")
    too_long = cli(home, "approvals", "approve", user, str(uuid.uuid4()), "--framework", "x" * 51, **DB)
    assert too_long.returncode == 1
    assert one_error_line(too_long).startswith("error: --framework:")

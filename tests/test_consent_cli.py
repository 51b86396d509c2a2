"""``agentkeep consent show|set-tier``, run as a script runs them: the installed command, its own
embedded server, no terminal."""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_support import cli, one_error_line, table_rows

DB = {"AGENTKEEP_DATABASE_NAME": "cli_consent"}


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="akcon", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.no_citus("the CLI starts its own embedded server")
def test_consent_show_and_set_tier(home: Path) -> None:
    created = cli(home, "users", "create", "--email", f"c-{uuid.uuid4().hex[:8]}@example.com", "--json", **DB)
    assert created.returncode == 0, created.stderr
    user = json.loads(created.stdout)["user"]["user_id"]

    shown = cli(home, "consent", "show", user, **DB)
    assert shown.returncode == 0, shown.stderr
    assert len(table_rows(shown.stdout, "global")) == 1 and "passive" in table_rows(shown.stdout, "global")[0]

    changed = cli(home, "consent", "set-tier", user, "global", "active", "--reason", "ok", **DB)
    assert (changed.returncode, changed.stdout.strip()) == (0, "global active")
    document = json.loads(cli(home, "consent", "show", user, "--logs", "5", "--json", **DB).stdout)
    assert [(t["scope"], t["tier_level"]) for t in document["tiers"]] == [("global", "active")]
    assert [(e["previous_value"], e["new_value"], e["reason"]) for e in document["logs"]] == [
        ("passive", "active", "ok"),
        (None, "passive", None),
    ]

    for args, named in (
        (("set-tier", user, "global", "total"), "tier_level"),
        (("set-tier", user, "gardening", "active"), "scope"),
        (("set-tier", "nope", "global", "active"), "USER"),
        (("show", "nope"), "USER"),
    ):
        refused = cli(home, "consent", *args, **DB)
        assert refused.returncode == 1, refused.stdout
        assert named in one_error_line(refused)
    after = json.loads(cli(home, "consent", "show", user, "--json", **DB).stdout)
    assert [(t["scope"], t["tier_level"]) for t in after["tiers"]] == [("global", "active")]

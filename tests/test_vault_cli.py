"""The vault's commands: `keys rotate`, `keys rotate-master`, `provider-keys` (docs/vault.md)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import stat
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentkeep.database.embedded import EmbeddedServer
from agentkeep.database.engine import Database
from agentkeep.keep import Keep
from cli_support import AGENTKEEP, environment, one_error_line


def _cli(home: Path, *args: str, stdin: str = "", **variables: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script
        [str(AGENTKEEP), *args],
        env=environment(home, **variables),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _on_tests_database(
    server: EmbeddedServer, database: Database, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """The command attached to the tests' embedded server and database."""
    home = server.pgdata.parent
    name = str(database.urls.owner.database)
    return await asyncio.to_thread(_cli, home, *args, stdin=stdin, AGENTKEEP_DATABASE_NAME=name)


async def test_provider_keys_from_the_command_line(
    embedded_server: EmbeddedServer, database: Database, make_user: Any
) -> None:
    user = str((await make_user()).user_id)
    secret = f"sk-cli-{uuid.uuid4().hex}"
    stored = await _on_tests_database(
        embedded_server, database, "provider-keys", "set", "--user", user, "openai", stdin=secret + "\n"
    )
    assert stored.returncode == 0, stored.stderr
    assert secret not in stored.stdout + stored.stderr and f"…{secret[-4:]}" in stored.stdout
    listed = await _on_tests_database(
        embedded_server, database, "provider-keys", "list", "--user", user, "--json"
    )
    assert [(k["provider"], k["key_last4"]) for k in json.loads(listed.stdout)] == [("openai", secret[-4:])]
    revealed = await _on_tests_database(
        embedded_server, database, "provider-keys", "reveal", "--user", user, "openai"
    )
    assert revealed.stdout == secret + "\n"
    bad = await _on_tests_database(
        embedded_server, database, "provider-keys", "set", "--user", user, "nope", stdin=secret + "\n"
    )
    assert bad.returncode == 1 and "nope" in one_error_line(bad) and secret not in bad.stderr
    deleted = await _on_tests_database(
        embedded_server, database, "provider-keys", "delete", "--user", user, "openai"
    )
    assert deleted.returncode == 0
    gone = await _on_tests_database(
        embedded_server, database, "provider-keys", "reveal", "--user", user, "openai"
    )
    assert gone.returncode == 1 and "no 'openai' key stored" in one_error_line(gone)


async def test_keys_rotate_reports_rows_per_second(
    embedded_server: EmbeddedServer, database: Database, keep: Keep, make_user: Any
) -> None:
    user = (await make_user()).user_id
    await keep.provider_keys.set(user, "openai", "sk-rotate-cli-0001")
    await keep.provider_keys.set(user, "google", "sk-rotate-cli-0002")
    rotated = await _on_tests_database(
        embedded_server, database, "keys", "rotate", str(user), "--batch-size", "1"
    )
    assert rotated.returncode == 0, rotated.stderr
    assert f"2 values of {user} re-encrypted under key version 2" in rotated.stdout
    assert "rows/s" in rotated.stdout and "old version 1: retired" in rotated.stdout
    again = await _on_tests_database(embedded_server, database, "keys", "rotate", str(user), "--json")
    report = json.loads(again.stdout)
    assert (report["old_versions"], report["new_version"], report["rows"], report["finished"]) == (
        [2],
        3,
        2,
        True,
    )
    assert report["rows_per_second"] > 0
    assert (await keep.provider_keys.reveal(user, "google")).get_secret_value() == "sk-rotate-cli-0002"
    bad = await _on_tests_database(embedded_server, database, "keys", "rotate", "not-a-user")
    assert bad.returncode == 1 and one_error_line(bad) == "error: USER: 'not-a-user' is not a user id"


@pytest.fixture
def home() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="akvcli", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.no_citus("starts an embedded server of its own")
def test_rotate_master_with_the_default_key_file_and_a_wrong_key_at_start(home: Path) -> None:
    default = {"AGENTKEEP_MASTER_KEY": ""}  # the data folder's master.key, made on first start
    user = _cli(home, "users", "create", "--email", "rm@example.com", "--json", **default)
    assert user.returncode == 0, user.stderr
    user_id = json.loads(user.stdout)["user"]["user_id"]
    assert (
        _cli(
            home, "provider-keys", "set", "--user", user_id, "openai", stdin="sk-master-cli-1\n", **default
        ).returncode
        == 0
    )
    key_file = home / "master.key"
    first = key_file.read_text()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    rotated = _cli(home, "keys", "rotate-master", **default)
    assert rotated.returncode == 0, rotated.stderr
    assert "re-wrapped 1 data keys under master version 2 (was 1)" in rotated.stdout
    assert "back it up now" in rotated.stdout
    assert key_file.read_text() != first and not (home / "master.key.next").exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    revealed = _cli(home, "provider-keys", "reveal", "--user", user_id, "openai", **default)
    assert revealed.stdout == "sk-master-cli-1\n", revealed.stderr

    wrong = base64.b64encode(os.urandom(32)).decode()
    refused = _cli(home, "provider-keys", "list", "--user", user_id, AGENTKEEP_MASTER_KEY=wrong)
    assert refused.returncode == 1
    assert one_error_line(refused).startswith("error: AGENTKEEP_MASTER_KEY is not the vault's master key")
    old = _cli(home, "provider-keys", "list", "--user", user_id, AGENTKEEP_MASTER_KEY=first.strip())
    assert old.returncode == 1 and "master version 2" in one_error_line(old)
    needs_file = _cli(home, "keys", "rotate-master", AGENTKEEP_MASTER_KEY=key_file.read_text().strip())
    assert "--new-key-file PATH is needed" in one_error_line(needs_file)

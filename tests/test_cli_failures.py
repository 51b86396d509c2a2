"""Every CLI failure is one line on stderr and exit status 1, and changes nothing.

The database cases need the machine's PostgreSQL (>= 15) at AGENTKEEP_TEST_EXTERNAL_URL (default
postgresql://postgres@127.0.0.1:5432/postgres, a superuser with trust authentication) and are
skipped without it. The address cases need no database: they must fail before one is started.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from cli_support import AGENTKEEP, cli, environment, free_port, one_error_line

ADMIN_URL = os.environ.get("AGENTKEEP_TEST_EXTERNAL_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def home() -> Iterator[Path]:
    """An empty data folder: any embedded server started by mistake would leave pgdata in it."""
    path = Path(tempfile.mkdtemp(prefix="akfail", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _admin_fetch(query: str, *args: object) -> object:
    async def fetch() -> object:
        admin = await asyncpg.connect(ADMIN_URL, timeout=3)
        try:
            return await admin.fetchval(query, *args)
        finally:
            await admin.close()

    return asyncio.run(fetch())


def _admin_ddl(template: str, identifier: str) -> None:
    """Run DDL naming ``identifier``, quoted by the server's own format('%I')."""

    async def run() -> None:
        admin = await asyncpg.connect(ADMIN_URL, timeout=3)
        try:
            await admin.execute(
                await admin.fetchval("SELECT format($1::text, $2::text)", template, identifier)
            )
        finally:
            await admin.close()

    asyncio.run(run())


@pytest.fixture(scope="module")
def external_postgres() -> None:
    try:
        version = _admin_fetch("SELECT current_setting('server_version_num')::int")
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"no PostgreSQL service at {ADMIN_URL}: {exc}")
    if not isinstance(version, int) or version < 150000:
        pytest.skip("the PostgreSQL service is older than 15")


def _url(**parts: str) -> str:
    """The service's URL with another role or database."""
    return make_url(ADMIN_URL).set(**parts).render_as_string(hide_password=False)


def _database_exists(name: str) -> bool:
    return bool(_admin_fetch("SELECT count(*) FROM pg_database WHERE datname = $1", name))


def _role_exists(name: str) -> bool:
    return bool(_admin_fetch("SELECT count(*) FROM pg_roles WHERE rolname = $1", name))


COMMANDS = [
    pytest.param(("migrate", "status"), id="migrate-status"),
    pytest.param(("migrate", "up"), id="migrate-up"),
    pytest.param(("migrate", "down", "-1", "--yes"), id="migrate-down"),
    pytest.param(("users", "create", "--email", "new@example.com"), id="users-create"),
    pytest.param(("users", "create", "--email", "new@example.com", "--with-key"), id="users-create-with-key"),
    pytest.param(("keys", "create", "--service"), id="keys-create-service"),
    pytest.param(("keys", "create", "--user", str(uuid.uuid4())), id="keys-create-user"),
    pytest.param(("serve", "--port", "{port}"), id="serve"),
]


def _run(home: Path, command: tuple[str, ...], database_url: str) -> str:
    args = [arg.replace("{port}", str(free_port())) for arg in command]
    result = cli(home, *args, AGENTKEEP_DATABASE_URL=database_url)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""  # neither "serving on" nor "stopped", nor a half-made key
    assert not (home / "pgdata").exists(), "an embedded server was started"
    return one_error_line(result)


@pytest.mark.usefixtures("external_postgres")
@pytest.mark.parametrize("command", COMMANDS)
def test_a_role_that_does_not_exist_is_one_line(home: Path, command: tuple[str, ...]) -> None:
    role = f"nobody_{uuid.uuid4().hex[:8]}"
    line = _run(home, command, _url(username=role))
    assert line == f'error: database: role "{role}" does not exist'
    assert not _role_exists(role)


@pytest.mark.usefixtures("external_postgres")
@pytest.mark.parametrize("command", COMMANDS)
def test_a_database_that_does_not_exist_is_one_line(home: Path, command: tuple[str, ...]) -> None:
    name = f"agentkeep_nope_{uuid.uuid4().hex[:8]}"
    line = _run(home, command, _url(database=name))
    assert line == f'error: database: database "{name}" does not exist'
    assert not _database_exists(name)


@pytest.mark.parametrize("port", ["70000", "0", "65536"])
def test_a_port_out_of_range_is_refused_before_anything_starts(home: Path, port: str) -> None:
    for command in ("up", "serve"):
        result = cli(home, command, "--port", port)
        assert result.returncode == 1, result.stdout + result.stderr
        assert one_error_line(result) == f"error: --port: {port} is not a port number (1 to 65535)"
        assert result.stdout == ""
        assert not (home / "pgdata").exists()


def test_a_port_out_of_range_in_the_environment_names_the_variable(home: Path) -> None:
    result = cli(home, "up", AGENTKEEP_PORT="70000")
    assert result.returncode == 1
    assert "AGENTKEEP_PORT" in one_error_line(result)
    assert result.stdout == ""
    assert not (home / "pgdata").exists()


def test_a_busy_port_is_one_line_and_starts_nothing(home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli(home, "up", "--port", str(port))
    assert result.returncode == 1, result.stdout + result.stderr
    line = one_error_line(result)
    assert line.startswith(f"error: --port: cannot listen on http://127.0.0.1:{port}:"), line
    assert "in use" in line
    assert result.stdout == ""  # not "serving on", not "the database was shut down cleanly"
    assert not (home / "pgdata").exists()


def test_an_address_that_is_not_ours_names_the_host(home: Path) -> None:
    result = cli(home, "up", "--host", "192.0.2.1", "--port", str(free_port()))  # TEST-NET-1
    assert result.returncode == 1, result.stdout + result.stderr
    assert one_error_line(result).startswith("error: --host: cannot listen on http://192.0.2.1:")
    assert result.stdout == ""
    assert not (home / "pgdata").exists()


@pytest.mark.usefixtures("external_postgres")
def test_migrate_down_warns_of_a_running_server_and_no_keeps_the_schema(home: Path) -> None:
    name = f"agentkeep_down_{uuid.uuid4().hex[:8]}"
    _admin_ddl("CREATE DATABASE %I", name)
    try:
        url = _url(database=name)
        assert cli(home, "migrate", "up", AGENTKEEP_DATABASE_URL=url).returncode == 0

        async def ask_while_connected() -> subprocess.CompletedProcess[str]:
            server_stand_in = await asyncpg.connect(url)  # what a running API server holds open
            try:
                return await asyncio.to_thread(_answer_no, home, url)
            finally:
                await server_stand_in.close()

        answered = asyncio.run(ask_while_connected())
        assert answered.returncode == 1
        warning, question = answered.stderr.splitlines()[:2]
        assert warning.startswith("warning: 1 other connection(s)"), answered.stderr
        assert "an API server seems to be running" in warning
        assert "Continue? [y/N]" in question
        assert question.endswith("error: cancelled; nothing was changed")
        assert answered.stdout == ""
        status = cli(home, "migrate", "status", "--json", AGENTKEEP_DATABASE_URL=url)
        assert all(revision["is_applied"] for revision in json.loads(status.stdout)["revisions"])
    finally:
        _admin_ddl("DROP DATABASE IF EXISTS %I WITH (FORCE)", name)


def _answer_no(home: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    """``agentkeep migrate down`` on a terminal whose user types "n"."""
    controller, terminal = pty.openpty()
    try:
        os.write(controller, b"n\n")
        return subprocess.run(  # noqa: S603 - our own console script
            [str(AGENTKEEP), "migrate", "down"],
            env=environment(home, AGENTKEEP_DATABASE_URL=database_url),
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(terminal)
        os.close(controller)

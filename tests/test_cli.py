"""The installed ``agentkeep`` command, run as a subprocess on an embedded server of its own.

All tests share one short data folder (one initdb); each flow uses its own database name so the
flows do not depend on each other's order. Every invocation starts and stops the embedded server,
so the number of invocations is kept small.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import pty
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from agentkeep.database import migrate
from cli_support import AGENTKEEP, cli, environment, free_port, one_error_line, table_rows

# The tables the foundation revision declares: `migrate status` must list each of them.
TABLES = next(r.creates_tables for r in migrate.history() if r.revision == "0001")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="akcli", dir="/tmp"))
    yield path
    _stop_leftover_server(path)
    shutil.rmtree(path, ignore_errors=True)


def _server_pid(home: Path) -> int | None:
    pid_file = home / "pgdata" / "postmaster.pid"
    try:
        return int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def _is_running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _stop_leftover_server(home: Path) -> None:
    """If a test failed with the server still up, stop the server this module started."""
    pid = _server_pid(home)
    if pid is None:
        return
    try:
        process = psutil.Process(pid)
        if "postgres" in process.name():
            process.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
            process.wait(STOP_TIMEOUT)
    except psutil.Error:
        pass


# --- migrate and doctor ---------------------------------------------------------------------------


def test_migrate_status_up_down_history_and_doctor(home: Path) -> None:
    db = {"AGENTKEEP_DATABASE_NAME": "cli_migrate"}

    # Piped with an 80-column setting: still one line per row, nothing cut short with "…".
    status = cli(home, "migrate", "status", COLUMNS="80", **db)
    assert status.returncode == 0, status.stderr
    [row] = table_rows(status.stdout, "0001")
    assert "pending" in row
    for table in TABLES:
        assert table in row, table
    assert "…" not in status.stdout

    # An unmigrated database is a failed check, with the reason.
    unmigrated = cli(home, "doctor", **db)
    assert unmigrated.returncode == 1, unmigrated.stdout + unmigrated.stderr
    assert "FAIL" in unmigrated.stdout
    migrations_row = table_rows(unmigrated.stdout, "migrations")
    assert migrations_row and "FAIL" in migrations_row[0] and "0001" in migrations_row[0]

    up = cli(home, "migrate", "up", "--table", "users", **db)
    assert up.returncode == 0, up.stderr
    assert "migrated up to 0001" in up.stdout
    applied = cli(home, "migrate", "status", **db)
    [row] = table_rows(applied.stdout, "0001")
    assert "applied" in row and "pending" not in row

    # Reverting drops tables: with no terminal to ask on and no --yes, it is refused, unchanged.
    refused = cli(home, "migrate", "down", "base", **db)
    assert refused.returncode == 1
    assert "--yes" in one_error_line(refused)
    assert refused.stdout == ""
    [row] = table_rows(cli(home, "migrate", "status", **db).stdout, "0001")
    assert "applied" in row

    # A relative revision, as the help shows it: no "--" needed before -1.
    down = cli(home, "migrate", "down", "-1", "--yes", **db)
    assert down.returncode == 0, down.stderr
    assert "migrated down to -1" in down.stdout
    reverted = cli(home, "migrate", "status", "--json", **db)
    assert reverted.returncode == 0, reverted.stderr
    [revision] = [r for r in json.loads(reverted.stdout)["revisions"] if r["revision"] == "0001"]
    assert revision["is_applied"] is False
    assert set(TABLES) <= set(revision["creates_tables"])

    again = cli(home, "migrate", "up", **db)
    assert again.returncode == 0, again.stderr
    assert "migrated up to head" in again.stdout

    healthy = cli(home, "doctor", **db)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "FAIL" not in healthy.stdout
    for check in ("database reachable", "PostgreSQL version", "pgvector", "application role", "migrations"):
        [line] = table_rows(healthy.stdout, check)
        assert " ok " in line, line
    [rls] = table_rows(healthy.stdout, "row-level security")
    assert " ok " in rls

    checks = cli(home, "doctor", "--json", **db)
    assert checks.returncode == 0, checks.stderr
    report = json.loads(checks.stdout)
    assert report["ok"] is True
    assert {check["name"] for check in report["checks"]} >= {"database reachable", "migrations"}
    assert all(check["ok"] for check in report["checks"])

    history = cli(home, "migrate", "history")
    assert history.returncode == 0, history.stderr
    [row] = table_rows(history.stdout, "0001")
    assert "foundation" in row
    history_json = cli(home, "migrate", "history", "--json")
    assert history_json.returncode == 0, history_json.stderr
    first = json.loads(history_json.stdout)["revisions"][0]
    assert first["revision"] == "0001"
    assert first["down_revisions"] == []
    assert "users" in first["creates_tables"]


def test_migrate_down_asks_and_no_keeps_everything(home: Path) -> None:
    db = {"AGENTKEEP_DATABASE_NAME": "cli_refuse"}
    assert cli(home, "migrate", "up", **db).returncode == 0
    # No terminal to ask on: every form of `migrate down` is refused without --yes.
    for revision in ("base", "-1", "0001"):
        refused = cli(home, "migrate", "down", revision, **db)
        assert refused.returncode == 1, refused.stdout
        assert "--yes" in one_error_line(refused)

    # On a terminal it asks; answering no changes nothing.
    controller, terminal = pty.openpty()
    try:
        os.write(controller, b"n\n")
        answered = subprocess.run(  # noqa: S603 - our own console script
            [str(AGENTKEEP), "migrate", "down", "base"],
            env=environment(home, **db),
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert answered.returncode == 1
    assert "Continue?" in answered.stderr
    assert "cancelled" in answered.stderr.strip().splitlines()[-1]
    assert answered.stdout == ""

    status = json.loads(cli(home, "migrate", "status", "--json", **db).stdout)
    assert all(revision["is_applied"] for revision in status["revisions"])


def test_version() -> None:
    result = subprocess.run(  # noqa: S603 - our own console script
        [str(AGENTKEEP), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"agentkeep {importlib.metadata.version('agentkeep')}"


def test_migrate_up_unknown_table_is_one_line(home: Path) -> None:
    result = cli(home, "migrate", "up", "--table", "no_such_table", AGENTKEEP_DATABASE_NAME="cli_migrate")
    assert result.returncode == 1
    assert "no_such_table" in one_error_line(result)


def test_unknown_revision_and_unreachable_database_are_one_line(home: Path) -> None:
    result = cli(home, "migrate", "down", "no_such_revision", "--yes", AGENTKEEP_DATABASE_NAME="cli_migrate")
    assert result.returncode == 1
    assert "no_such_revision" in one_error_line(result)
    unreachable = "postgresql://nobody@127.0.0.1:9/agentkeep"
    result = cli(home, "migrate", "status", AGENTKEEP_DATABASE_URL=unreachable)
    assert result.returncode == 1
    assert one_error_line(result).startswith("error: database:")
    result = cli(home, "doctor", AGENTKEEP_DATABASE_URL=unreachable)
    assert result.returncode == 1
    assert "FAIL" in result.stdout


# --- users and keys -------------------------------------------------------------------------------


def test_users_and_keys(home: Path) -> None:
    db = {"AGENTKEEP_DATABASE_NAME": "cli_users"}

    bad = cli(home, "users", "create", "--email", "bad", **db)
    assert bad.returncode == 1
    assert "email" in one_error_line(bad)
    assert bad.stdout == ""

    email = f"x-{uuid.uuid4().hex[:8]}@example.com"
    # Piped output on an 80-column setting: the key is still one line, whole.
    created = cli(home, "users", "create", "--email", email, "--with-key", COLUMNS="80", **db)
    assert created.returncode == 0, created.stderr
    user_match = re.search(r"^user_id ([0-9a-f-]{36})$", created.stdout, re.MULTILINE)
    key_match = re.search(r"^api_key (ak_\S+)$", created.stdout, re.MULTILINE)
    assert user_match and key_match, created.stdout
    user_id = uuid.UUID(user_match.group(1))
    assert re.fullmatch(rf"ak_{user_id.hex}_\S{{20,}}", key_match.group(1)), created.stdout
    assert len(created.stdout.splitlines()) == 2

    as_json = cli(home, "users", "create", "--email", f"j{email}", "--with-key", "--json", **db)
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert document["user"]["email"] == f"j{email}"
    assert document["api_key"]["user_id"] == document["user"]["user_id"]
    assert document["api_key"]["secret"].startswith(f"ak_{uuid.UUID(document['user']['user_id']).hex}_")
    without_key = cli(home, "users", "create", "--email", f"k{email}", "--json", **db)
    assert json.loads(without_key.stdout)["api_key"] is None

    duplicate = cli(home, "users", "create", "--email", email, **db)
    assert duplicate.returncode == 1
    assert "email" in one_error_line(duplicate)

    user_key = cli(home, "keys", "create", "--user", str(user_id), **db)
    assert user_key.returncode == 0, user_key.stderr
    assert re.fullmatch(rf"ak_{user_id.hex}_\S+", user_key.stdout.strip()), user_key.stdout
    assert user_key.stdout.strip() != key_match.group(1)

    service_key = cli(home, "keys", "create", "--service", **db)
    assert service_key.returncode == 0, service_key.stderr
    assert re.fullmatch(r"aks_\S+", service_key.stdout.strip()), service_key.stdout

    key_json = cli(home, "keys", "create", "--user", str(user_id), "--name", "ci", "--json", **db)
    assert key_json.returncode == 0, key_json.stderr
    key_document = json.loads(key_json.stdout)
    assert key_document["name"] == "ci"
    assert key_document["user_id"] == str(user_id)
    assert key_document["secret"].startswith(f"ak_{user_id.hex}_")

    neither = cli(home, "keys", "create", **db)
    assert neither.returncode == 2
    assert "--user" in neither.stderr

    unknown = cli(home, "keys", "create", "--user", str(uuid.uuid4()), **db)
    assert unknown.returncode == 1
    assert "not found" in one_error_line(unknown)

    not_uuid = cli(home, "keys", "create", "--user", "alice", **db)
    assert not_uuid.returncode == 1
    assert "--user" in one_error_line(not_uuid)


def test_malformed_setting_is_one_line(home: Path) -> None:
    result = cli(home, "users", "create", "--email", "ok@example.com", AGENTKEEP_PORT="abc")
    assert result.returncode == 1
    assert "AGENTKEEP_PORT" in one_error_line(result)
    assert result.stdout == ""


# --- up -------------------------------------------------------------------------------------------


@dataclass
class UpRun:
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    returncode: int | None = None
    stop_seconds: float = 0.0
    server_pid: int | None = None
    responses: dict[str, int] = field(default_factory=dict)

    @property
    def service_keys(self) -> list[str]:
        return [line.strip() for line in self.stdout if line.strip().startswith("aks_")]


def run_up(home: Path, probe_key: str | None = None) -> UpRun:
    """Start ``agentkeep up``, wait for its URL, make a few requests, Ctrl-C it, collect all."""
    port = free_port()
    run = UpRun()
    process = subprocess.Popen(  # noqa: S603 - our own console script
        [str(AGENTKEEP), "up", "--port", str(port)],
        env=environment(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[tuple[str, str | None]] = queue.Queue()

    def pump(stream: object, name: str) -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.put((name, line.rstrip("\n")))
        lines.put((name, None))

    readers = [
        threading.Thread(target=pump, args=(process.stdout, "out"), daemon=True),
        threading.Thread(target=pump, args=(process.stderr, "err"), daemon=True),
    ]
    for reader in readers:
        reader.start()

    def take(name: str, line: str) -> None:
        (run.stdout if name == "out" else run.stderr).append(line)

    try:
        deadline = time.monotonic() + START_TIMEOUT
        url = None
        while url is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no URL within {START_TIMEOUT} s: {run}")
            try:
                name, line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                if process.poll() is not None:
                    raise AssertionError(f"agentkeep up exited early ({process.returncode}): {run}")
                continue
            take(name, line)
            if name == "out" and (found := re.search(r"serving on (http://\S+)", line)):
                url = found.group(1)
        assert url == f"http://127.0.0.1:{port}"
        run.server_pid = _server_pid(home)

        key = probe_key or (run.service_keys[0] if run.service_keys else None)
        with httpx.Client(base_url=url, timeout=10) as http:
            run.responses["health"] = http.get("/health").status_code
            run.responses["agents without key"] = http.get("/api/agents").status_code
            if key:
                agents = http.get("/api/agents", headers={"Authorization": f"Bearer {key}"})
                run.responses["agents with key"] = agents.status_code

        stop_started = time.monotonic()
        process.send_signal(signal.SIGINT)
        try:
            run.returncode = process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
            raise AssertionError(f"agentkeep up did not stop within {STOP_TIMEOUT} s after Ctrl-C") from None
        run.stop_seconds = time.monotonic() - stop_started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        for reader in readers:
            reader.join(5)
        while not lines.empty():
            name, line = lines.get_nowait()
            if line is not None:
                take(name, line)
    return run


@pytest.fixture(scope="module")
def first_up(home: Path) -> UpRun:
    return run_up(home)


@pytest.fixture(scope="module")
def second_up(home: Path, first_up: UpRun) -> UpRun:
    assert first_up.service_keys
    return run_up(home, probe_key=first_up.service_keys[0])


def test_first_up_prints_a_service_key_and_serves(first_up: UpRun) -> None:
    assert len(first_up.service_keys) == 1, first_up.stdout
    assert len(first_up.service_keys[0]) > len("aks_") + 20
    assert first_up.responses["health"] == 200
    assert first_up.responses["agents without key"] == 401
    assert first_up.responses["agents with key"] == 200


def test_up_stops_on_ctrl_c_and_the_database_with_it(first_up: UpRun, home: Path) -> None:
    # Ctrl-C is the normal way to stop it: a clean shutdown exits 0.
    assert first_up.returncode == 0, first_up
    assert first_up.stop_seconds < STOP_TIMEOUT
    assert first_up.server_pid is not None
    assert not _is_running(first_up.server_pid), "embedded PostgreSQL outlived agentkeep up"
    pid_now = _server_pid(home)
    assert pid_now is None or not _is_running(pid_now)


def test_up_says_it_stopped_without_a_traceback(first_up: UpRun) -> None:
    assert any("stopped" in line for line in first_up.stdout), first_up.stdout
    assert not any("Traceback" in line for line in first_up.stderr), "\n".join(first_up.stderr)


def test_second_up_prints_no_new_key(second_up: UpRun, home: Path) -> None:
    assert second_up.service_keys == [], second_up.stdout
    assert not any("service key was created" in line for line in second_up.stdout)
    assert second_up.responses["health"] == 200
    assert second_up.responses["agents with key"] == 200  # the first run's key still works
    assert second_up.returncode == 0
    assert second_up.server_pid is not None
    assert not _is_running(second_up.server_pid)

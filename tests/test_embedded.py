"""The embedded PostgreSQL: first start runs initdb, later starts reuse the cluster, other processes
attach to a running server, and the last holder to let go stops it.

Each test uses its own short data folder under /tmp, never the session server's.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest

from agentkeep.database.embedded import EmbeddedServer
from agentkeep.database.urls import DatabaseUrls, asyncpg_dsn

STOP_TIMEOUT = 20.0


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="akemb", dir="/tmp"))
    yield path
    _stop_leftover_server(path)
    shutil.rmtree(path, ignore_errors=True)


def _stop_leftover_server(path: Path) -> None:
    """If a test failed with a server still up, stop the server it started (by its pid)."""
    for pid_file in path.rglob("postmaster.pid"):
        try:
            process = psutil.Process(int(pid_file.read_text().splitlines()[0]))
            if "postgres" in process.name():
                process.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
                process.wait(STOP_TIMEOUT)
        except (ValueError, IndexError, OSError, psutil.Error):
            pass


def superuser_dsn(server: EmbeddedServer) -> str:
    urls = DatabaseUrls.for_embedded(server, "postgres")
    assert urls.superuser is not None
    return asyncpg_dsn(urls.superuser)


def is_running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until_gone(pid: int, timeout: float = STOP_TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(pid):
            return True
        time.sleep(0.1)
    return not is_running(pid)


def run_python(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def test_first_start_initialises_later_start_reuses(data_dir: Path) -> None:
    folder = data_dir / "not" / "yet"  # created on first start
    pgdata = folder / "pgdata"

    first = EmbeddedServer.start(folder)
    try:
        assert first.pgdata == pgdata
        assert (pgdata / "PG_VERSION").exists()
        first_pid = first.pid
        assert first_pid is not None
        assert is_running(first_pid)
        conn = await asyncpg.connect(superuser_dsn(first))
        try:
            await conn.execute("CREATE TABLE kept (value int)")
            await conn.execute("INSERT INTO kept VALUES (42)")
            assert await conn.fetchval("SHOW data_directory") == str(pgdata.resolve())
        finally:
            await conn.close()
        version_written = (pgdata / "PG_VERSION").stat().st_mtime_ns
    finally:
        first.stop()
    assert wait_until_gone(first_pid), "the server outlived its only holder"
    assert not (pgdata / "postmaster.pid").exists()

    second = EmbeddedServer.start(folder)
    try:
        assert second.pid is not None
        assert second.pid != first_pid
        # No initdb this time: the cluster, and what we stored in it, are still there.
        assert (pgdata / "PG_VERSION").stat().st_mtime_ns == version_written
        conn = await asyncpg.connect(superuser_dsn(second))
        try:
            assert await conn.fetchval("SELECT value FROM kept") == 42
        finally:
            await conn.close()
    finally:
        second_pid = second.pid
        second.stop()
    assert wait_until_gone(second_pid)


async def test_second_process_attaches_and_leaves_the_server_running(data_dir: Path) -> None:
    server = EmbeddedServer.start(data_dir)
    pid = server.pid
    assert pid is not None
    try:
        child = run_python(
            f"""
            import asyncio
            from pathlib import Path
            import asyncpg
            from agentkeep.database.embedded import EmbeddedServer
            from agentkeep.database.urls import DatabaseUrls, asyncpg_dsn

            server = EmbeddedServer.start(Path({str(data_dir)!r}))
            try:
                dsn = asyncpg_dsn(DatabaseUrls.for_embedded(server, "postgres").superuser)

                async def main():
                    conn = await asyncpg.connect(dsn)
                    try:
                        return await conn.fetchval("select 1")
                    finally:
                        await conn.close()

                print("pid", server.pid)
                print("select", asyncio.run(main()))
            finally:
                server.stop()
            """
        )
        assert child.returncode == 0, child.stderr
        assert f"pid {pid}" in child.stdout  # attached to ours, did not start another
        assert "select 1" in child.stdout

        # The child let go; we still hold the server, so it keeps running and answering.
        assert is_running(pid)
        assert server.pid == pid
        conn = await asyncpg.connect(superuser_dsn(server))
        try:
            assert await conn.fetchval("select 2") == 2
        finally:
            await conn.close()
    finally:
        server.stop()
    assert wait_until_gone(pid), "the last holder let go but the server kept running"


async def test_two_holders_in_one_process(data_dir: Path) -> None:
    """Two holders in one process (e.g. two Keep.connect()): one stop() leaves the other working."""
    first = EmbeddedServer.start(data_dir)
    second = EmbeddedServer.start(data_dir)
    pid = first.pid
    assert pid is not None
    assert second.pid == pid
    try:
        first.stop()
        first.stop()  # letting go twice counts once
        await asyncio.sleep(0.3)
        assert is_running(pid)
        conn = await asyncpg.connect(superuser_dsn(second))
        try:
            assert await conn.fetchval("select 1") == 1
        finally:
            await conn.close()
    finally:
        second.stop()
    assert wait_until_gone(pid), "the last holder in this process let go but the server kept running"


def test_dead_holder_does_not_keep_the_server_alive(data_dir: Path) -> None:
    server = EmbeddedServer.start(data_dir)
    pid = server.pid
    assert pid is not None
    child = run_python(
        f"""
        import os
        from pathlib import Path
        from agentkeep.database.embedded import EmbeddedServer

        EmbeddedServer.start(Path({str(data_dir)!r}))
        os._exit(0)  # dies holding the server, as after kill -9
        """
    )
    assert child.returncode == 0, child.stderr
    server.stop()
    assert wait_until_gone(pid, timeout=2)


def test_start_in_an_unusable_folder_is_a_configuration_error(data_dir: Path) -> None:
    blocker = data_dir / "file"
    blocker.write_text("not a folder")
    from agentkeep.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="AGENTKEEP_DATA_DIR"):
        EmbeddedServer.start(blocker / "keep")
    assert os.listdir(data_dir) == ["file"]

"""Running the installed ``agentkeep`` command in tests (shared by the test_cli* modules)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

AGENTKEEP = Path(sys.executable).parent / "agentkeep"
if not AGENTKEEP.exists():  # pragma: no cover - a venv always has it next to python
    AGENTKEEP = Path(shutil.which("agentkeep") or "agentkeep")


def environment(home: Path, **variables: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.upper().startswith("AGENTKEEP_")}
    return (
        env
        | {
            "AGENTKEEP_DATA_DIR": str(home),
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "400",  # Rich tables stay on one line per row
            "NO_COLOR": "1",
        }
        # The run's master key (conftest), so the CLI opens the same vault as the SDK in tests.
        | {name: value for name, value in os.environ.items() if name == "AGENTKEEP_MASTER_KEY"}
        | variables
    )


def cli(home: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run ``agentkeep ARGS`` as a script would: no terminal, stdin at end of file."""
    return subprocess.run(  # noqa: S603 - our own console script
        [str(AGENTKEEP), *args],
        env=environment(home, **variables),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def table_rows(stdout: str, first_cell: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.strip("│ ").startswith(first_cell)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

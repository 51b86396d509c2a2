"""How the CLI speaks: data on stdout (a table, plain lines or one JSON document), errors on stderr.

Every failure is one line on stderr and exit status 1; nothing here ever shows a traceback.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any, NoReturn, TypeVar

import asyncpg
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from agentkeep.database.engine import Database
from agentkeep.database.errors import postgres_error
from agentkeep.errors import AgentkeepError
from agentkeep.keep import Keep, open_database
from agentkeep.models import error_field, error_message
from agentkeep.settings import Settings, load_settings

T = TypeVar("T")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout instead.")]

# Piped output is read by programs: no width, so no row is wrapped and no cell is cut. On a
# terminal, cells fold (see table()) rather than end in "…".
_terminal = Console().is_terminal
out = Console(highlight=False, soft_wrap=True, width=None if _terminal else 1_000_000)
err = Console(stderr=True, highlight=False, soft_wrap=True)


USAGE_ERROR = 2
"""Exit status of a command line that cannot mean anything (Typer's own usage errors use it too)."""


def fail(message: str, *, status: int = 1) -> NoReturn:
    """The CLI's one way to fail: one line on stderr, exit status 1 (or ``status``)."""
    err.print(f"[red]error:[/red] {_one_line(message)}")
    raise typer.Exit(status)


def _one_line(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return " ".join(lines) if lines else "failed"


def describe(exc: BaseException) -> str:
    """A failure in one line, for any exception a command may meet."""
    if isinstance(exc, AgentkeepError):
        return exc.detail
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{error_field(first['loc'])}: {error_message(first)}"
    server_error = postgres_error(exc)
    if server_error is not None:
        # The server's own words: 'role "nobody" does not exist', 'database "nope" does not exist'.
        return f"database: {_first_line(str(server_error)) or type(server_error).__name__}"
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        # SQLAlchemy wraps the driver's error (and the error that caused it) in its own.
        cause = exc.orig.__cause__ or exc.orig
        return f"database: {_first_line(str(cause)) or type(cause).__name__}"
    if isinstance(exc, (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, SQLAlchemyError)):
        return f"database: {_first_line(str(exc)) or type(exc).__name__}"
    return f"{type(exc).__name__}: {_first_line(str(exc))}"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def run(work: Coroutine[Any, Any, T]) -> T:
    """Run one library call; whatever goes wrong becomes one line and exit status 1."""
    try:
        return asyncio.run(work)
    except (typer.Exit, KeyboardInterrupt):
        raise
    except Exception as exc:
        fail(describe(exc))


def settings() -> Settings:
    try:
        return load_settings()
    except AgentkeepError as exc:
        fail(exc.detail)


async def with_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    database = await open_database(settings)
    try:
        return await work(database)
    finally:
        await database.close()


async def with_keep(settings: Settings, work: Callable[[Keep], Awaitable[T]]) -> T:
    keep = await Keep.connect(settings)
    try:
        return await work(keep)
    finally:
        await keep.close()


def print_json(document: Any) -> None:
    """One JSON document on stdout, for programs (no Rich: nothing is wrapped or styled)."""
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    sys.stdout.flush()


def print_line(text: str) -> None:
    """A plain line, never wrapped, never styled: for secrets and ids that programs read."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def table(*headers: str) -> Table:
    """A table whose long cells fold onto more lines on a narrow terminal instead of being cut."""
    result = Table()
    for header in headers:
        result.add_column(header, overflow="fold")
    return result

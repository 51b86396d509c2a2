"""The `agentkeep` command: a thin shell over the library.

Errors print one line to stderr and exit 1; usage errors exit 2 (Typer's own).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Annotated, Any, TypeVar

import asyncpg
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from agentkeep.access_keys.models import NewKey
from agentkeep.database import migrate as migrations
from agentkeep.database.doctor import run_checks
from agentkeep.database.engine import Database
from agentkeep.errors import AgentkeepError
from agentkeep.keep import Keep, open_database
from agentkeep.models import error_field, error_message
from agentkeep.principal import Principal
from agentkeep.settings import Settings, load_settings
from agentkeep.users.models import NewUser

T = TypeVar("T")

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="agentkeep: the system of record for AI agents."
)
migrate_app = typer.Typer(no_args_is_help=True, help="Apply, revert and inspect schema migrations.")
users_app = typer.Typer(no_args_is_help=True, help="Manage users.")
keys_app = typer.Typer(no_args_is_help=True, help="Create API keys and service keys.")
app.add_typer(migrate_app, name="migrate")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")

out = Console()
# Errors stay on one line whatever the terminal width, so scripts can read them.
err = Console(stderr=True, soft_wrap=True)


def _run(work: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(work)
    except AgentkeepError as exc:
        err.print(f"[red]error:[/red] {exc.detail}", highlight=False)
        raise typer.Exit(1) from None
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        # The database is unreachable, refuses us, or is not what we expect: say so in one line.
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        err.print(f"[red]error:[/red] database: {reason}", highlight=False)
        raise typer.Exit(1) from None


async def _with_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    database = await open_database(settings)
    try:
        return await work(database)
    finally:
        await database.close()


async def _with_keep(settings: Settings, work: Callable[[Keep], Awaitable[T]]) -> T:
    keep = await Keep.connect(settings)
    try:
        return await work(keep)
    finally:
        await keep.close()


def _graceful_server(config: Any) -> Any:
    """A uvicorn server that, after a Ctrl-C, returns instead of raising the signal again.

    uvicorn re-raises the signal it caught once it has shut down; asyncio.run would then cancel
    our own shutdown (closing the pool, stopping the embedded database) half way.
    """
    import uvicorn

    class GracefulServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

    return GracefulServer(config)


async def _serve(settings: Settings, host: str, port: int, *, first_run_key: bool) -> None:
    import uvicorn

    from agentkeep.api.app import create_app
    from agentkeep.api.server import ProblemH11Protocol

    keep = await Keep.connect(settings)
    try:
        if first_run_key and await keep.access_keys.count_service_keys() == 0:
            created = await keep.access_keys.create_service_key("first run")
            out.print("A service key was created for this new database. It is shown once; keep it:")
            out.print(f"  [bold]{created.secret}[/bold]", highlight=False)
            out.print(f"  curl -H 'Authorization: Bearer <key>' http://{host}:{port}/api/agents")
        out.print(
            f"agentkeep is serving on [bold]http://{host}:{port}[/bold] (API docs at /docs). Ctrl-C stops it."
        )
        config = uvicorn.Config(
            create_app(keep=keep),
            host=host,
            port=port,
            log_level="info",
            lifespan="on",
            http=ProblemH11Protocol,
        )
        await _graceful_server(config).serve()
    finally:
        await keep.close()
        out.print("agentkeep stopped; the database was shut down cleanly.")


HostOption = Annotated[str | None, typer.Option(help="Address to listen on (default AGENTKEEP_HOST).")]
PortOption = Annotated[int | None, typer.Option(help="Port to listen on (default AGENTKEEP_PORT).")]


def _settings() -> Settings:
    try:
        return load_settings()
    except AgentkeepError as exc:
        err.print(f"[red]error:[/red] {exc.detail}", highlight=False)
        raise typer.Exit(1) from None


@app.command()
def up(host: HostOption = None, port: PortOption = None) -> None:
    """Start the embedded database, migrate, and serve the API. First run prints a service key."""
    settings = _settings()
    _run(_serve(settings, host or settings.host, port or settings.port, first_run_key=True))


@app.command()
def serve(host: HostOption = None, port: PortOption = None) -> None:
    """Serve the API on the configured database."""
    settings = _settings()
    _run(_serve(settings, host or settings.host, port or settings.port, first_run_key=False))


@migrate_app.command("up")
def migrate_up(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    table: Annotated[str | None, typer.Option(help="Migrate just far enough to create this table.")] = None,
) -> None:
    """Apply migrations up to REVISION (default: all)."""
    settings = _settings()
    try:
        target = migrations.revision_creating(table) if table else revision
    except AgentkeepError as exc:
        err.print(f"[red]error:[/red] {exc.detail}", highlight=False)
        raise typer.Exit(1) from None
    _run(_with_database(settings, lambda db: migrations.upgrade(db, target)))
    out.print(f"migrated up to {target}")


@migrate_app.command("down")
def migrate_down(revision: Annotated[str, typer.Argument(help="Target revision, or -N.")] = "-1") -> None:
    """Revert migrations down to REVISION (default: the last one)."""
    _run(_with_database(_settings(), lambda db: migrations.downgrade(db, revision)))
    out.print(f"migrated down to {revision}")


@migrate_app.command("status")
def migrate_status() -> None:
    """Each revision, applied or pending, and the tables it creates."""
    rows = _run(_with_database(_settings(), migrations.status))
    table = Table("revision", "state", "description", "tables")
    for row in rows:
        state = "[green]applied[/green]" if row.is_applied else "[yellow]pending[/yellow]"
        table.add_row(row.revision, state, row.description, ", ".join(row.creates_tables))
    out.print(table)


@migrate_app.command("history")
def migrate_history() -> None:
    """Every revision, oldest first (no database needed)."""
    table = Table("revision", "down revision", "description")
    for script in reversed(list(migrations.script_directory().walk_revisions())):
        table.add_row(str(script.revision), str(script.down_revision or "-"), str(script.doc or ""))
    out.print(table)


@app.command()
def doctor() -> None:
    """Check the database, pgvector, roles, row-level security and migrations."""
    checks = _run(_with_database(_settings(), run_checks))
    table = Table("check", "", "detail")
    for check in checks:
        table.add_row(check.name, "[green]ok[/green]" if check.ok else "[red]FAIL[/red]", check.detail)
    out.print(table)
    if not all(check.ok for check in checks):
        raise typer.Exit(1)


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="The user's email address.")],
    username: Annotated[str | None, typer.Option()] = None,
    full_name: Annotated[str | None, typer.Option()] = None,
    timezone: Annotated[str, typer.Option(help="IANA time zone.")] = "UTC",
    with_key: Annotated[bool, typer.Option(help="Also create an API key for the user.")] = False,
) -> None:
    """Create a user and print its id (and, with --with-key, an API key shown once)."""
    try:
        new = NewUser(email=email, username=username, full_name=full_name, timezone=timezone)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {_first_validation_error(exc)}", highlight=False)
        raise typer.Exit(1) from None

    async def work(keep: Keep) -> tuple[uuid.UUID, str | None]:
        user = await keep.users.create(new)
        secret = (await keep.access_keys.create(user.user_id)).secret if with_key else None
        return user.user_id, secret

    user_id, secret = _run(_with_keep(_settings(), work))
    out.print(f"user_id {user_id}", highlight=False)
    if secret:
        out.print(f"api_key {secret}", highlight=False)


@keys_app.command("create")
def keys_create(
    user: Annotated[str | None, typer.Option(help="Create an API key for this user id.")] = None,
    service: Annotated[bool, typer.Option("--service", help="Create a service key instead.")] = False,
    name: Annotated[str, typer.Option(help="A label for the key.")] = "cli",
) -> None:
    """Create an API key for a user, or a service key; the key is printed once."""
    if service == (user is not None):
        err.print("[red]error:[/red] give exactly one of --user ID or --service", highlight=False)
        raise typer.Exit(2)
    user_id: uuid.UUID | None = None
    if user is not None:
        try:
            user_id = uuid.UUID(user)
        except ValueError:
            err.print(f"[red]error:[/red] --user: {user!r} is not a UUID", highlight=False)
            raise typer.Exit(1) from None

    async def work(keep: Keep) -> str:
        if user_id is None:
            return (await keep.access_keys.create_service_key(name)).secret
        await keep.users.get(Principal.service(user_id))
        return (await keep.access_keys.create(user_id, NewKey(name=name))).secret

    out.print(_run(_with_keep(_settings(), work)), highlight=False)


def _first_validation_error(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{error_field(first['loc'])}: {error_message(first)}"
    return str(exc)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)

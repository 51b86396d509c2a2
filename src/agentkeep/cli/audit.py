"""``agentkeep audit``: verify the hash chains and live rows, print the heads, redact a user."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agentkeep.audit.models import VerifyReport
from agentkeep.audit.service import AuditService
from agentkeep.cli.output import JsonOption, err, fail, out, print_json, run, settings, with_database
from agentkeep.database.engine import Database

audit_app = typer.Typer(no_args_is_help=True, help="Verify the audit trail, print its heads, redact a user.")

UserOption = Annotated[str | None, typer.Option("--user", help="Only this user's chain (a user id).")]


def _user_id(value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(f"--user: {value!r} is not a user id")


def _saved_heads(path: Path | None) -> Any:
    if path is None:
        return None
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        fail(f"--against: cannot read {path}: {exc.strerror}")
    except json.JSONDecodeError as exc:
        fail(f"--against: {path} is not JSON ({exc.msg} at line {exc.lineno})")


@audit_app.command("verify")
def verify(
    user: UserOption = None,
    against: Annotated[
        Path | None, typer.Option("--against", help="A JSON file of heads saved by `audit head`.")
    ] = None,
    connections: Annotated[
        int | None,
        typer.Option(
            "--connections",
            min=1,
            help="Processes (each with a connection) to check the chains in (default: cores, up to 4,"
            " for a trail of 100,000 entries or more).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Recompute every chain and check every live row; exit 1 and name the first broken link."""
    user_id = _user_id(user)
    saved = _saved_heads(against)

    async def work(database: Database) -> VerifyReport:
        service = AuditService(database)
        total = await service.count(user_id)
        with Progress(
            TextColumn("verifying"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=as_json,
        ) as bar:
            task = bar.add_task("entries", total=total or None)
            return await service.verify(
                user_id, against=saved, progress=lambda n: bar.advance(task, n), connections=connections
            )

    report = run(with_database(settings(), work))
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "entries": report.entries,
                "chains": report.chains,
                "breaks": [{"user_id": b.user_id, "seq": b.seq, "problem": b.problem} for b in report.breaks],
                "live_rows": [problem.model_dump() for problem in report.live_rows],
            }
        )
    else:
        for broken in report.breaks:
            err.print(f"[red]broken:[/red] {broken}")
        for problem in report.live_rows:
            err.print(f"[red]live row:[/red] {problem}")
        if report.ok:
            out.print(f"ok: {report.entries} entries in {report.chains} chains verify; live rows match")
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("head")
def head() -> None:
    """Each chain's head (seq and hash) as JSON: keep it outside the database for verify --against."""
    print_json(run(with_database(settings(), lambda database: AuditService(database).head())))


@audit_app.command("redact")
def redact(user: Annotated[str, typer.Option("--user", help="The user whose audit payloads go.")]) -> None:
    """Remove a user's personal content from the audit trail; the chains still verify."""
    user_id = _user_id(user)
    assert user_id is not None
    count = run(with_database(settings(), lambda database: AuditService(database).redact(user_id)))
    out.print(f"redacted {count} entries of {user_id}")

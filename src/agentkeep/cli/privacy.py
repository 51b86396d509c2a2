"""``agentkeep users export`` and ``agentkeep users erase``: a data-subject access request and
the right to erasure (docs/privacy.md)."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agentkeep.cli.output import JsonOption, err, fail, out, print_json, print_line, run, settings, with_keep
from agentkeep.keep import Keep
from agentkeep.privacy.models import ErasureReport

UserArgument = Annotated[str, typer.Argument(metavar="USER", help="The user's id.")]


def _user_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(f"USER: {value!r} is not a user id")


def export(
    user: UserArgument,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the JSON document here (default: stdout).")
    ] = None,
) -> None:
    """Write everything agentkeep holds about a user, decrypted, as one JSON document."""
    user_id = _user_id(user)
    partial = None if output is None else output.with_name(f".{output.name}.partial")

    async def work(keep: Keep) -> int:
        written = 0
        with Progress(
            TextColumn("exporting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("rows", total=None)
            target: TextIO = sys.stdout if partial is None else partial.open("w", encoding="utf-8")
            try:
                async for piece in keep.privacy.export(
                    user_id,
                    on_total=lambda total: bar.update(task, total=total),
                    progress=lambda n: bar.advance(task, n),
                ):
                    target.write(piece)
                written = int(bar.tasks[0].completed)
            finally:
                if target is not sys.stdout:
                    target.close()
        return written

    try:
        rows = run(with_keep(settings(), work))
    except BaseException:
        # A half-written document is no export: never leave one under the name asked for.
        if partial is not None:
            partial.unlink(missing_ok=True)
        raise
    if output is not None and partial is not None:
        os.replace(partial, output)
        err.print(f"exported {rows} rows of {user_id} to {output}")
    else:
        sys.stdout.flush()


def erase(
    user: UserArgument,
    yes: Annotated[bool, typer.Option("--yes", help="Do it: erasure cannot be undone.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Erase a user: destroy their data keys, delete their rows, redact their audit entries."""
    user_id = _user_id(user)
    if not yes:
        fail("erasure cannot be undone: add --yes to erase this user")

    async def work(keep: Keep) -> ErasureReport:
        return await keep.privacy.erase(user_id)

    report = run(with_keep(settings(), work))
    if as_json:
        print_json(report.model_dump(mode="json"))
        return
    print_line(f"erased {report.user_id}")
    print_line(f"data keys destroyed {report.data_keys_destroyed}")
    for table, count in report.rows_deleted.items():
        out.print(f"  {table} {count}")
    print_line(f"rows deleted {report.total_rows}")
    print_line(f"audit entries redacted {report.audit_entries_redacted}")

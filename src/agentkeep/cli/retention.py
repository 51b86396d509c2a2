"""``agentkeep retention run``: archive and delete what the profile's retention rules say is due."""

from __future__ import annotations

from typing import Annotated

import typer

from agentkeep.cli.output import (
    JsonOption,
    fail,
    out,
    print_json,
    print_line,
    run,
    settings,
    table,
    with_database,
)
from agentkeep.database.engine import Database
from agentkeep.errors import AgentkeepError
from agentkeep.profiles.loader import load_profile
from agentkeep.profiles.model import Profile
from agentkeep.retention.service import RetentionService, RunSummary

retention_app = typer.Typer(
    no_args_is_help=True, help="Archive, then delete, what retention rules say is due."
)


@retention_app.command("run")
def run_retention(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be archived and deleted; change nothing.")
    ] = False,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="Run this profile's rules (a shipped name or a file) instead of the active one's.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Archive what is due to AGENTKEEP_ARCHIVE_DIR (gzip JSON Lines and a manifest), then delete it."""
    rules: Profile | None = None
    if profile is not None:
        try:
            rules = load_profile(profile).profile
        except AgentkeepError as exc:
            fail(exc.detail)
    config = settings()

    async def work(database: Database) -> RunSummary:
        return await RetentionService(database, config.archive_folder).run(profile=rules, dry_run=dry_run)

    summary = run(with_database(config, work))
    if as_json:
        print_json(summary.as_dict())
        return
    if not summary.ran:
        print_line(f"retention did not run: {summary.skipped_reason}")
        return
    listing = table("rule", "table", "due", "archived", "deleted")
    for result in summary.tables:
        listing.add_row(result.rule, result.table, str(result.due), str(result.archived), str(result.deleted))
    out.print(listing)
    for note in summary.notes:
        print_line(f"note: {note}")
    if summary.dry_run:
        print_line(f"dry run: {sum(r.due for r in summary.tables)} rows due; nothing archived or deleted")
    else:
        counts = f"archived {summary.rows_archived} rows, deleted {summary.rows_deleted}"
        print_line(f"{counts}; manifest {summary.manifest}")

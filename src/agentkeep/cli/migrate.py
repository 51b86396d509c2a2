"""``agentkeep migrate``: apply, revert and inspect schema migrations."""

from __future__ import annotations

import dataclasses
import sys
from typing import Annotated

import typer

from agentkeep.cli.output import (
    JsonOption,
    err,
    fail,
    out,
    print_json,
    run,
    settings,
    table,
    with_database,
)
from agentkeep.database import migrate as migrations
from agentkeep.database.engine import Database
from agentkeep.errors import AgentkeepError
from agentkeep.profiles import seed_tables
from agentkeep.profiles.loader import load_profile

migrate_app = typer.Typer(no_args_is_help=True, help="Apply, revert and inspect schema migrations.")

YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help="A profile (name or file) whose seed's table names --table and status also know "
        "(e.g. kai: kai_sessions, kai_decisions). Default: AGENTKEEP_PROFILE.",
    ),
]


def _compatibility_schema(spec: str | None) -> str | None:
    if spec is None:
        return None
    try:
        return load_profile(spec).profile.compatibility_schema
    except AgentkeepError as exc:
        fail(exc.detail)


def _revision_creating(name: str, schema: str | None) -> str:
    table = seed_tables.table_for(name, schema)
    try:
        return migrations.revision_creating(table)
    except AgentkeepError as exc:
        known = ", ".join(seed_tables.SEED_TABLES.get(schema or "", {}))
        fail(f"{exc.detail} (nor does the {schema} seed name one: {known})" if known else exc.detail)


@migrate_app.command("up")
def migrate_up(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    table_name: Annotated[
        str | None,
        typer.Option("--table", help="Migrate just far enough to create this table (or the seed's table)."),
    ] = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Apply migrations up to REVISION (default: all)."""
    loaded = settings()
    schema = _compatibility_schema(profile or loaded.profile)
    target = _revision_creating(table_name, schema) if table_name else revision
    run(with_database(loaded, lambda db: migrations.upgrade(db, target)))
    if as_json:
        print_json({"migrated": "up", "revision": target})
    else:
        out.print(f"migrated up to {target}")


# Unknown options are taken as arguments, so a relative revision such as -1 needs no "--".
@migrate_app.command("down", context_settings={"ignore_unknown_options": True})
def migrate_down(
    revision: Annotated[
        str, typer.Argument(help="Target revision: an id, base (everything), or -N (the last N).")
    ] = "-1",
    yes: YesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Revert migrations down to REVISION (default -1: the last one). Asks first: it drops tables."""
    loaded = settings()
    if not yes and not sys.stdin.isatty():
        fail("this drops tables and their rows; no terminal to ask on: pass --yes to confirm")

    async def work(database: Database) -> None:
        if not yes:
            # Asked with the database open, so the question can say who else is using it.
            _confirm(revision, await migrations.other_connections(database))
        await migrations.downgrade(database, revision)

    run(with_database(loaded, work))
    if as_json:
        print_json({"migrated": "down", "revision": revision})
    else:
        out.print(f"migrated down to {revision}")


def _confirm(revision: str, other_connections: int) -> None:
    if other_connections:
        err.print(
            f"[yellow]warning:[/yellow] {other_connections} other connection(s) to this database are "
            "open: an API server seems to be running, and would answer errors once its tables are gone."
        )
    # Asked on stderr (click's confirm writes a space to stdout, which programs read).
    err.print(
        f"Reverting migrations down to {revision} drops their tables and every row in them. Continue? [y/N] ",
        end="",
        markup=False,
    )
    if sys.stdin.readline().strip().lower() not in {"y", "yes"}:
        fail("cancelled; nothing was changed")


@migrate_app.command("status")
def migrate_status(profile: ProfileOption = None, as_json: JsonOption = False) -> None:
    """Each revision, applied or pending, and the tables it creates (with the profile's seed names)."""
    loaded = settings()
    names = seed_tables.seed_names(_compatibility_schema(profile or loaded.profile))
    rows = run(with_database(loaded, migrations.status))
    if as_json:
        revisions = [
            dataclasses.asdict(row)
            | {"seed_tables": {t: list(names[t]) for t in row.creates_tables if t in names}}
            for row in rows
        ]
        print_json({"revisions": revisions})
        return
    listing = table("revision", "state", "description", "tables")
    for row in rows:
        state = "[green]applied[/green]" if row.is_applied else "[yellow]pending[/yellow]"
        tables = [f"{t} ({', '.join(names[t])})" if t in names else t for t in row.creates_tables]
        listing.add_row(row.revision, state, row.description, ", ".join(tables))
    out.print(listing)


@migrate_app.command("history")
def migrate_history(as_json: JsonOption = False) -> None:
    """Every revision, oldest first (no database needed)."""
    revisions = migrations.history()
    if as_json:
        print_json({"revisions": [dataclasses.asdict(revision) for revision in revisions]})
        return
    listing = table("revision", "down revision", "description", "tables")
    for revision in revisions:
        listing.add_row(
            revision.revision,
            ", ".join(revision.down_revisions) or "-",
            revision.description,
            ", ".join(revision.creates_tables),
        )
    out.print(listing)

"""``agentkeep profile``: list, show, compare and apply profiles; print their JSON Schema."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any

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
from agentkeep.profiles.diff import diff_profiles
from agentkeep.profiles.loader import SHIPPED, LoadedProfile, load_profile
from agentkeep.profiles.model import json_schema
from agentkeep.profiles.service import ActiveProfile, ProfileService

profile_app = typer.Typer(no_args_is_help=True, help="List, show, compare and apply profiles.")

SpecArgument = Annotated[
    str, typer.Argument(help="A shipped profile name or a profile file (.toml or .json).")
]


def _load(spec: str) -> LoadedProfile:
    try:
        return load_profile(spec)
    except AgentkeepError as exc:
        fail(exc.detail)


@profile_app.command("list")
def list_profiles(as_json: JsonOption = False) -> None:
    """The shipped profiles, and which one the database has applied."""

    async def active(database: Database) -> ActiveProfile:
        return await ProfileService(database).active()

    current = run(with_database(settings(), active))
    shipped = [_load(name).profile for name in SHIPPED]
    if as_json:
        print_json(
            {
                "active": current.name,
                "profiles": [
                    {
                        "name": p.name,
                        "version": p.version,
                        "title": p.title,
                        "is_active": p.name == current.name,
                    }
                    for p in shipped
                ],
            }
        )
        return
    listing = table("name", "version", "title", "active")
    for p in shipped:
        listing.add_row(p.name, p.version, p.title, "[green]active[/green]" if p.name == current.name else "")
    out.print(listing)
    if current.name is not None and current.name not in SHIPPED:
        out.print(f"active: {current.name} {current.version} (from a file)")


@profile_app.command("show")
def show(spec: SpecArgument, as_json: JsonOption = False) -> None:
    """The resolved profile (after extends), with where each value comes from."""
    loaded = _load(spec)
    content = loaded.content
    if as_json:
        print_json(content)
        return
    listing = table("key", "value", "source")
    provenance = loaded.profile.provenance
    for key, value in _leaves(content):
        if key.startswith("provenance."):
            continue
        listing.add_row(key, json.dumps(value, ensure_ascii=False), _source(key, provenance))
    out.print(listing)


@profile_app.command("diff")
def diff(old: SpecArgument, new: SpecArgument, as_json: JsonOption = False) -> None:
    """What applying NEW over OLD would change: terms per vocabulary, policy values, seeded rows."""
    changes = diff_profiles(_load(old).profile, _load(new).profile)
    if as_json:
        print_json(dataclasses.asdict(changes))
        return
    for line in changes.lines() or [f"{changes.old} and {changes.new} configure the same"]:
        print_line(line)


@profile_app.command("apply")
def apply(
    spec: SpecArgument,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would change; change nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Make SPEC the database's profile: one transaction; applying it again changes nothing."""
    loaded = _load(spec)  # a bad file is refused before the database is touched

    async def work(database: Database) -> Any:
        return await ProfileService(database).apply(loaded, dry_run=dry_run)

    report = run(with_database(settings(), work))
    if as_json:
        print_json(dataclasses.asdict(report))
        return
    for line in report.lines():
        print_line(line)


@profile_app.command("schema")
def schema() -> None:
    """The JSON Schema of a resolved profile."""
    print_json(json_schema())


def _leaves(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        return [leaf for key, item in value.items() for leaf in _leaves(item, f"{prefix}{key}.")]
    return [(prefix.rstrip("."), value)]


def _source(key: str, provenance: dict[str, str]) -> str:
    """The most specific provenance entry covering ``key``."""
    covering = [known for known in provenance if key == known or key.startswith(f"{known}.")]
    return provenance[max(covering, key=len)] if covering else ""

"""The `agentkeep` command: a thin shell over the library.

Each command parses its options, calls one library function and prints the result: a table or
plain lines for people, one JSON document with ``--json`` for programs. Failures print one line
to stderr and exit 1 (a command line that means nothing exits 2, as Typer's own usage errors do).
"""

from __future__ import annotations

import dataclasses
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from agentkeep.cli import privacy, server
from agentkeep.cli.accounts import keys_app, operator_keys_app, users_app
from agentkeep.cli.approvals import approvals_app
from agentkeep.cli.audit import audit_app
from agentkeep.cli.consent import consent_app
from agentkeep.cli.decisions import decisions_app
from agentkeep.cli.migrate import migrate_app
from agentkeep.cli.output import JsonOption, out, print_json, run, settings, table, with_database
from agentkeep.cli.partitions import partitions_app
from agentkeep.cli.profile import profile_app
from agentkeep.cli.reports import report_app
from agentkeep.cli.retention import retention_app
from agentkeep.cli.trust import trust_app
from agentkeep.cli.vault import provider_keys_app, rotate, rotate_master
from agentkeep.database.doctor import run_checks

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="agentkeep: the system of record for AI agents.",
)
app.add_typer(migrate_app, name="migrate")
users_app.command("export")(privacy.export)
users_app.command("erase")(privacy.erase)
app.add_typer(users_app, name="users")
keys_app.command("rotate")(rotate)
keys_app.command("rotate-master")(rotate_master)
app.add_typer(keys_app, name="keys")
app.add_typer(provider_keys_app, name="provider-keys")
app.add_typer(profile_app, name="profile")
app.add_typer(audit_app, name="audit")
app.add_typer(partitions_app, name="partitions")
app.add_typer(retention_app, name="retention")
app.add_typer(operator_keys_app, name="operator-key")
app.add_typer(report_app, name="report")
app.add_typer(decisions_app, name="decisions")
app.add_typer(approvals_app, name="approvals")
app.add_typer(consent_app, name="consent")
app.add_typer(trust_app, name="trust")
app.command()(server.up)
app.command()(server.serve)


def _installed_version() -> str:
    try:
        return version("agentkeep")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree never installed
        return "unknown (not installed)"


def _print_version(requested: bool) -> None:
    if requested:
        out.print(f"agentkeep {_installed_version()}")
        raise typer.Exit()


@app.callback()
def root(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """agentkeep: the system of record for AI agents."""


@app.command()
def doctor(as_json: JsonOption = False) -> None:
    """Check the database, pgvector, roles, row-level security, durability, health and migrations.

    A warning (yellow) is shown but does not fail: the exit code is 1 only for a failed check.
    """
    checks = run(with_database(settings(), run_checks))
    healthy = all(check.ok for check in checks)
    if as_json:
        print_json({"ok": healthy, "checks": [dataclasses.asdict(check) for check in checks]})
    else:
        listing = table("check", "", "detail")
        for check in checks:
            if not check.ok:
                state, detail = "[red]FAIL[/red]", check.detail
            elif check.warning:
                state, detail = "[yellow]WARN[/yellow]", f"{check.warning} ({check.detail})"
            else:
                state, detail = "[green]ok[/green]", check.detail
            listing.add_row(check.name, state, detail)
        out.print(listing)
    if not healthy:
        raise typer.Exit(1)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)

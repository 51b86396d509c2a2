"""``agentkeep keys rotate`` / ``keys rotate-master`` (the vault) and ``agentkeep provider-keys``.

A provider key is read from the terminal without echo, or from stdin: never from the command
line, where other users of the machine could read it in the process list.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agentkeep.cli.output import (
    JsonOption,
    err,
    fail,
    out,
    print_json,
    print_line,
    run,
    settings,
    table,
    with_keep,
)
from agentkeep.keep import Keep
from agentkeep.provider_keys.models import ProviderKey
from agentkeep.vault.master import LocalMasterKey
from agentkeep.vault.service import MasterRotationReport, RotationReport

provider_keys_app = typer.Typer(
    no_args_is_help=True, help="A user's AI provider API keys, encrypted by the vault (seed 003)."
)
UserOption = Annotated[str, typer.Option("--user", help="The user (a user id).")]
ProviderArgument = Annotated[
    str, typer.Argument(help="openai, anthropic, google, … (the profile's ai_providers)")
]


def _user_id(value: str, name: str = "USER") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(f"{name}: {value!r} is not a user id")


def rotate(
    user: Annotated[str, typer.Argument(help="The user whose data key is replaced (a user id).")],
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=10_000, help="Values per transaction.")
    ] = 500,
    as_json: JsonOption = False,
) -> None:
    """Give USER a new data key and re-encrypt their values under it, in batches; run it again
    to finish one that was interrupted."""
    user_id = _user_id(user)

    async def work(keep: Keep) -> RotationReport:
        total = await keep.vault.pending_rows(user_id)
        with Progress(
            TextColumn("re-encrypting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=as_json,
        ) as bar:
            task = bar.add_task("values", total=total or None)
            return await keep.vault.rotate_user(
                user_id, batch_size=batch_size, progress=lambda n: bar.advance(task, n)
            )

    report = run(with_keep(settings(), work))
    if as_json:
        print_json(
            {
                "user_id": str(report.user_id),
                "old_versions": list(report.old_versions),
                "new_version": report.new_version,
                "rows": report.rows,
                "seconds": round(report.seconds, 3),
                "rows_per_second": round(report.rows_per_second, 1),
                "finished": report.finished,
                "resumed": report.resumed,
            }
        )
    elif report.new_version is None:
        out.print(f"{user_id} has no vault key yet: nothing to rotate")
    else:
        old = ", ".join(str(version) for version in report.old_versions)
        state = "retired" if report.finished else "still in use: run the command again to finish"
        out.print(
            f"{'resumed: ' if report.resumed else ''}{report.rows} values of {user_id} re-encrypted "
            f"under key version {report.new_version} in {report.seconds:.2f} s "
            f"({report.rows_per_second:.0f} rows/s); old version {old}: {state}"
        )
    if not report.finished:
        raise typer.Exit(1)


def rotate_master(
    new_key_file: Annotated[
        Path | None,
        typer.Option(
            "--new-key-file",
            help="The new master key (base64 of 32 bytes, owner-only); made there if missing. "
            "Needed when the key comes from AGENTKEEP_MASTER_KEY or AGENTKEEP_MASTER_KEY_FILE.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Re-wrap every data key under a new master key (encrypted values are not touched)."""
    current = settings()
    default_in_use = current.master_key is None and current.master_key_file is None
    swap: tuple[Path, Path] | None = None
    if new_key_file is not None:
        provider = LocalMasterKey.from_file(new_key_file.expanduser(), source="--new-key-file", create=True)
    elif default_in_use:
        # Made beside the default file, moved over it once the database has switched.
        upcoming = current.default_master_key_file.with_name("master.key.next")
        provider = LocalMasterKey.from_file(upcoming, source="the new master key file", create=True)
        swap = (upcoming, current.default_master_key_file)
    else:
        fail("--new-key-file PATH is needed: the master key comes from AGENTKEEP_MASTER_KEY or _FILE")
    report: MasterRotationReport = run(with_keep(current, lambda keep: keep.vault.rotate_master(provider)))
    if swap is not None:
        os.replace(*swap)
    if as_json:
        print_json(
            {"old_version": report.old_version, "new_version": report.new_version, "keys": report.keys}
        )
        return
    out.print(
        f"re-wrapped {report.keys} data keys under master version {report.new_version} "
        f"(was {report.old_version}) in {report.seconds:.2f} s"
    )
    if swap is not None:
        out.print(f"the new key is in {swap[1]}: back it up now (docs/vault.md)")
    else:
        assert new_key_file is not None
        out.print(
            f"from now on start agentkeep with AGENTKEEP_MASTER_KEY_FILE={new_key_file} (docs/vault.md)"
        )


def _read_secret() -> str:
    if sys.stdin.isatty():
        return str(typer.prompt("API key", hide_input=True))
    return sys.stdin.readline().strip()


@provider_keys_app.command("set")
def provider_keys_set(user: UserOption, provider: ProviderArgument, as_json: JsonOption = False) -> None:
    """Store USER's key for PROVIDER (read without echo, or from stdin), replacing any."""
    user_id = _user_id(user, "--user")
    secret = _read_secret()
    stored = run(with_keep(settings(), lambda keep: keep.provider_keys.set(user_id, provider, secret)))
    _show([stored], as_json)


@provider_keys_app.command("list")
def provider_keys_list(user: UserOption, as_json: JsonOption = False) -> None:
    """USER's keys, masked: the provider and the key's last 4 characters."""
    user_id = _user_id(user, "--user")
    _show(run(with_keep(settings(), lambda keep: keep.provider_keys.list(user_id))), as_json)


@provider_keys_app.command("reveal")
def provider_keys_reveal(user: UserOption, provider: ProviderArgument) -> None:
    """Print USER's key for PROVIDER (the owner's explicit read)."""
    user_id = _user_id(user, "--user")
    secret = run(with_keep(settings(), lambda keep: keep.provider_keys.reveal(user_id, provider)))
    print_line(secret.get_secret_value())


@provider_keys_app.command("delete")
def provider_keys_delete(user: UserOption, provider: ProviderArgument) -> None:
    """Delete USER's key for PROVIDER."""
    user_id = _user_id(user, "--user")
    run(with_keep(settings(), lambda keep: keep.provider_keys.delete(user_id, provider)))
    out.print(f"deleted the {provider} key of {user_id}")


def _show(keys: list[ProviderKey], as_json: bool) -> None:
    if as_json:
        print_json([key.model_dump(mode="json") for key in keys])
        return
    listing = table("provider", "key", "updated")
    for key in keys:
        listing.add_row(key.provider, key.masked, key.updated_at.isoformat(timespec="seconds"))
    out.print(listing)

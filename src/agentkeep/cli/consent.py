"""``agentkeep consent``: a user's consent tier per scope, and setting one (logged by the database)."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from pydantic import ValidationError

from agentkeep.cli.output import (
    JsonOption,
    describe,
    fail,
    out,
    print_json,
    print_line,
    run,
    settings,
    table,
    with_keep,
)
from agentkeep.consent.models import ConsentLog, ConsentTier, TierChange
from agentkeep.keep import Keep

consent_app = typer.Typer(no_args_is_help=True, help="Show and set a user's consent tiers (per scope).")

UserArgument = Annotated[str, typer.Argument(metavar="USER", help="The user's id.")]


def _user_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        fail(f"USER: {text!r} is not a UUID")


@consent_app.command("show")
def show(
    user: UserArgument,
    logs: Annotated[int, typer.Option(min=0, max=200, help="Also list this many latest log entries.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """The user's tier per scope (and, with --logs N, the latest consent log entries)."""
    user_id = _user_id(user)

    async def work(keep: Keep) -> tuple[list[ConsentTier], list[ConsentLog]]:
        tiers = await keep.consent.tiers(user_id)
        entries = (await keep.consent.logs(user_id, limit=logs)).items if logs else []
        return tiers, entries

    tiers, entries = run(with_keep(settings(), work))
    if as_json:
        print_json(
            {
                "tiers": [tier.model_dump(mode="json") for tier in tiers],
                "logs": [entry.model_dump(mode="json") for entry in entries],
            }
        )
        return
    shown = table("scope", "tier", "since")
    for tier in tiers:
        shown.add_row(tier.scope, tier.tier_level, tier.updated_at.isoformat(timespec="seconds"))
    out.print(shown)
    for entry in entries:
        change = f"{entry.previous_value or '-'} -> {entry.new_value or '-'}"
        print_line(
            f"{entry.created_at.isoformat(timespec='seconds')} {entry.action} {entry.scope or '-'} {change}"
        )


@consent_app.command("set-tier")
def set_tier(
    user: UserArgument,
    scope: Annotated[str, typer.Argument(help="The consent scope (a term of the profile's consent_scopes).")],
    tier: Annotated[str, typer.Argument(help="passive, suggestive, active or autonomous.")],
    reason: Annotated[str | None, typer.Option(help="Why (kept in the consent log).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Set the user's tier for one scope; the database logs the tier before and after."""
    user_id = _user_id(user)
    try:
        change = TierChange(tier_level=tier, reason=reason)
    except ValidationError as exc:
        fail(describe(exc))

    async def work(keep: Keep) -> ConsentTier:
        return await keep.consent.set_tier(user_id, scope, change)

    changed = run(with_keep(settings(), work))
    if as_json:
        print_json(changed.model_dump(mode="json"))
    else:
        print_line(f"{changed.scope} {changed.tier_level}")

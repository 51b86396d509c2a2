"""``agentkeep trust show|history|metrics USER AGENT``: what an agent has earned with a user.

AGENT is the agent's id or its name. Levels change by themselves as decisions get feedback
(docs/trust.md); these commands only read.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from agentkeep.cli.output import JsonOption, fail, out, print_json, run, settings, table, with_keep
from agentkeep.errors import NotFound
from agentkeep.keep import Keep
from agentkeep.pagination import MAX_PAGE_SIZE, Page
from agentkeep.trust.models import TrustChange, TrustLevel, TrustMetric

trust_app = typer.Typer(no_args_is_help=True, help="Trust levels agents earn from decision outcomes.")

UserArgument = Annotated[str, typer.Argument(help="The user's id.")]
AgentArgument = Annotated[str, typer.Argument(help="The agent's id or name.")]
Limit = Annotated[int, typer.Option(min=1, max=MAX_PAGE_SIZE)]


def _user(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(f"USER: {value!r} is not a UUID")


async def _agent(keep: Keep, value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        pass
    for agent in await keep.agents.list():
        if agent.name == value:
            return agent.id
    raise NotFound(f"AGENT: no agent has the id or name {value!r}", field="agent_id")


@trust_app.command("show")
def trust_show(user: UserArgument, agent: AgentArgument, as_json: JsonOption = False) -> None:
    """The agent's level (L0-L4) with the user and the counts the profile's rules read."""
    user_id = _user(user)

    async def work(keep: Keep) -> TrustLevel:
        return await keep.trust.show(user_id, await _agent(keep, agent))

    shown = run(with_keep(settings(), work))
    if as_json:
        print_json(shown.model_dump(mode="json"))
        return
    out.print(
        f"level L{shown.level}"
        + ("" if shown.has_record else " (no outcome yet: the profile's initial level)")
    )
    listing = table("count", "value")
    for name in ("outcomes", "approved", "rejected", "modified", "rejection_streak", "since_rejection"):
        listing.add_row(name, str(getattr(shown, name)))
    listing.add_row("approved at this level", f"{shown.level_approved} of {shown.level_outcomes}")
    out.print(listing)


@trust_app.command("history")
def trust_history(
    user: UserArgument,
    agent: AgentArgument,
    before: Annotated[str | None, typer.Option(help="The next_cursor of the previous page.")] = None,
    limit: Limit = 50,
    as_json: JsonOption = False,
) -> None:
    """Every level change, newest first, with the rule and the reason."""
    user_id = _user(user)
    cursor = None
    if before is not None:
        try:
            cursor = uuid.UUID(before)
        except ValueError:
            fail(f"--before: {before!r} is not a UUID")

    async def work(keep: Keep) -> Page[TrustChange]:
        return await keep.trust.history(user_id, await _agent(keep, agent), before=cursor, limit=limit)

    page = run(with_keep(settings(), work))
    if as_json:
        print_json(page.model_dump(mode="json"))
        return
    listing = table("at", "from", "to", "rule", "reason", "decision")
    for change in page.items:
        listing.add_row(
            str(change.created_at),
            f"L{change.from_level}",
            f"L{change.to_level}",
            change.rule,
            change.reason,
            str(change.decision_id or ""),
        )
    out.print(listing)
    if page.next_cursor:
        out.print(f"next page: --before {page.next_cursor}")


@trust_app.command("metrics")
def trust_metrics(
    user: UserArgument,
    agent: AgentArgument,
    metric_type: Annotated[str | None, typer.Option("--type", help="Only this metric type.")] = None,
    limit: Limit = 50,
    as_json: JsonOption = False,
) -> None:
    """The agent's trust metrics with the user, newest first."""
    user_id = _user(user)

    async def work(keep: Keep) -> list[TrustMetric]:
        return await keep.trust.metrics(
            user_id, await _agent(keep, agent), metric_type=metric_type, limit=limit
        )

    metrics = run(with_keep(settings(), work))
    if as_json:
        print_json([metric.model_dump(mode="json") for metric in metrics])
        return
    listing = table("recorded", "type", "value", "rows")
    for metric in metrics:
        listing.add_row(
            str(metric.recorded_at), metric.metric_type, str(metric.metric_value), str(metric.sample_count)
        )
    out.print(listing)

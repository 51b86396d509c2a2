"""``agentkeep approvals``: the agent sessions waiting for approval, and the decisions on them.

The command acts for one user as the service principal (the CLI holds the database's
credentials); a decision is a governance event, as from the SDK or the API.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from pydantic import ValidationError

from agentkeep.agent_sessions.models import AgentSession
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
from agentkeep.governance.models import Decision, GovernanceEvent
from agentkeep.keep import Keep
from agentkeep.pagination import MAX_PAGE_SIZE

approvals_app = typer.Typer(
    no_args_is_help=True, help="Agent sessions waiting for approval; approve or deny them."
)

UserArgument = Annotated[str, typer.Argument(help="The user id the sessions belong to.")]
SessionArgument = Annotated[str, typer.Argument(help="The agent session id.")]
ReasonOption = Annotated[str | None, typer.Option(help="Why (decision_reason).")]
FrameworkOption = Annotated[str, typer.Option(help="The governance framework (a profile term).")]
EventOption = Annotated[str, typer.Option("--event-type", help="pre_agent_spawn or consensus_check.")]
ByOption = Annotated[str | None, typer.Option("--by", help="Who decides (created_by).")]


def _uuid(name: str, value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(f"{name}: {value!r} is not a UUID")


def _decision(event_type: str, framework: str, reason: str | None, by: str | None) -> Decision:
    try:
        return Decision.model_validate(
            {"event_type": event_type, "framework_type": framework, "reason": reason, "created_by": by}
        )
    except ValidationError as exc:
        # The option that carries each field: the message names the option, as typed.
        options = {"event_type": "event-type", "framework_type": "framework", "created_by": "by"}
        field = str(exc.errors()[0]["loc"][0])
        fail(f"--{options.get(field, field)}: {describe(exc).split(': ', 1)[-1]}")


@approvals_app.command("list")
def list_pending(user: UserArgument, as_json: JsonOption = False) -> None:
    """Sessions of USER in pending_approval that no approval or denial has answered yet."""
    user_id = _uuid("USER", user)

    async def work(keep: Keep) -> list[AgentSession]:
        found: list[AgentSession] = []
        before = None
        while True:
            page = await keep.governance.pending(user_id, before=before, limit=MAX_PAGE_SIZE)
            found.extend(page.items)
            if page.next_cursor is None:
                return found
            before = page.next_cursor

    sessions = run(with_keep(settings(), work))
    if as_json:
        print_json([session.model_dump(mode="json") for session in sessions])
        return
    listing = table("agent_session_id", "agent_type", "created", "estimated cost")
    for session in sessions:
        cost = "" if session.estimated_cost is None else str(session.estimated_cost)
        listing.add_row(str(session.id), session.agent_type, str(session.created_at), cost)
    out.print(listing)


def _decide(user: str, session: str, decision: Decision, *, approved: bool, as_json: bool) -> None:
    user_id, session_id = _uuid("USER", user), _uuid("SESSION", session)

    async def work(keep: Keep) -> GovernanceEvent:
        if approved:
            return await keep.governance.approve(user_id, session_id, decision)
        return await keep.governance.deny(user_id, session_id, decision)

    event = run(with_keep(settings(), work))
    if as_json:
        print_json(event.model_dump(mode="json"))
        return
    print_line(f"{'approved' if approved else 'denied'} {session_id} (event {event.id})")


@approvals_app.command("approve")
def approve(
    user: UserArgument,
    session: SessionArgument,
    reason: ReasonOption = None,
    framework: FrameworkOption = "consensus",
    event_type: EventOption = "pre_agent_spawn",
    by: ByOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve SESSION of USER: an approved governance event; a waiting session becomes approved."""
    _decide(user, session, _decision(event_type, framework, reason, by), approved=True, as_json=as_json)


@approvals_app.command("deny")
def deny(
    user: UserArgument,
    session: SessionArgument,
    reason: ReasonOption = None,
    framework: FrameworkOption = "consensus",
    event_type: EventOption = "pre_agent_spawn",
    by: ByOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deny SESSION of USER: a rejected governance event; a waiting session becomes blocked."""
    _decide(user, session, _decision(event_type, framework, reason, by), approved=False, as_json=as_json)

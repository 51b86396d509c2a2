"""``agentkeep decisions``: a user's agent decisions, and recording the user's feedback.

The CLI acts as a service for the user it names (``--user``): feedback given here is recorded
with ``feedback_by = service``.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from pydantic import ValidationError

from agentkeep.cli.output import JsonOption, describe, fail, out, print_json, run, settings, table, with_keep
from agentkeep.decisions.models import Decision, FeedbackChange
from agentkeep.keep import Keep
from agentkeep.pagination import MAX_PAGE_SIZE, Page

decisions_app = typer.Typer(no_args_is_help=True, help="A user's agent decisions and their feedback.")

UserOption = Annotated[str, typer.Option("--user", help="The user's id.")]


def _uuid(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(f"{name}: {value!r} is not a UUID")


def _summary(decision: Decision) -> list[str]:
    confidence = "" if decision.confidence_score is None else str(decision.confidence_score)
    return [
        str(decision.id),
        str(decision.created_at),
        decision.decision_type,
        decision.subject or "",
        confidence,
        decision.user_feedback or "",
    ]


@decisions_app.command("list")
def decisions_list(
    user: UserOption,
    subject: Annotated[str | None, typer.Option(help="Only this subject (e.g. a ticker).")] = None,
    decision_type: Annotated[str | None, typer.Option("--type", help="Only this decision type.")] = None,
    session: Annotated[str | None, typer.Option(help="Only this agent session's decisions.")] = None,
    before: Annotated[str | None, typer.Option(help="The next_cursor of the previous page.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE_SIZE)] = 50,
    as_json: JsonOption = False,
) -> None:
    """The user's decisions, newest first (a page; --before NEXT_CURSOR for the next one)."""
    user_id = _uuid(user, "--user")
    session_id = _uuid(session, "--session") if session else None
    cursor = _uuid(before, "--before") if before else None

    async def work(keep: Keep) -> Page[Decision]:
        return await keep.decisions.list(
            user_id,
            subject=subject,
            decision_type=decision_type,
            agent_session_id=session_id,
            before=cursor,
            limit=limit,
        )

    page = run(with_keep(settings(), work))
    if as_json:
        print_json(page.model_dump(mode="json"))
        return
    listing = table("id", "created", "type", "subject", "confidence", "feedback")
    for decision in page.items:
        listing.add_row(*_summary(decision))
    out.print(listing)
    if page.next_cursor:
        out.print(f"next page: --before {page.next_cursor}")


@decisions_app.command("show")
def decisions_show(
    decision_id: Annotated[str, typer.Argument(help="The decision's id.")],
    user: UserOption,
    as_json: JsonOption = False,
) -> None:
    """One decision, with its encrypted parts opened (the vault must be available)."""
    user_id, parsed = _uuid(user, "--user"), _uuid(decision_id, "decision_id")

    async def work(keep: Keep) -> Decision:
        return await keep.decisions.get(user_id, parsed)

    decision = run(with_keep(settings(), work))
    document = decision.model_dump(mode="json")
    if as_json:
        print_json(document)
        return
    listing = table("field", "value")
    for name, value in document.items():
        listing.add_row(name, "" if value is None else str(value))
    out.print(listing)


@decisions_app.command("feedback")
def decisions_feedback(
    decision_id: Annotated[str, typer.Argument(help="The decision's id.")],
    verdict: Annotated[str, typer.Argument(help="approved, rejected or modified (the profile's terms).")],
    user: UserOption,
    version: Annotated[int | None, typer.Option(help="The version you read; a stale one is refused.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Record the user's feedback on a decision (who: service; when: now)."""
    user_id, parsed = _uuid(user, "--user"), _uuid(decision_id, "decision_id")
    try:
        change = FeedbackChange(user_feedback=verdict, version=version)
    except ValidationError as exc:
        fail(describe(exc))

    async def work(keep: Keep) -> Decision:
        return await keep.decisions.set_feedback(user_id, parsed, change)

    decision = run(with_keep(settings(), work))
    if as_json:
        print_json(decision.model_dump(mode="json"))
        return
    out.print(f"decision {decision.id}: {decision.user_feedback} (version {decision.version})")

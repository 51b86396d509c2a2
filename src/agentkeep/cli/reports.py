"""``agentkeep report``: operator reports across users (the CLI is the operator's own tool).

Run with the database's credentials, so it acts as the operator principal directly; every user
a report reads is audited by the database function that reads it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from agentkeep.cli.output import JsonOption, out, print_json, run, settings, table, with_keep
from agentkeep.keep import Keep
from agentkeep.operators.models import UserActivity
from agentkeep.pagination import MAX_PAGE_SIZE
from agentkeep.principal import Principal

report_app = typer.Typer(no_args_is_help=True, help="Operator reports across users (each read is audited).")


@report_app.command("user-activity")
def user_activity(
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most this many users (newest first); all by default.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Seed 001's user_activity_summary for every active user: sessions, cost, last session."""

    async def work(keep: Keep) -> list[UserActivity]:
        rows: list[UserActivity] = []
        before = None
        while limit is None or len(rows) < limit:
            wanted = MAX_PAGE_SIZE if limit is None else min(MAX_PAGE_SIZE, limit - len(rows))
            page = await keep.operators.user_activity(Principal.operator(), before=before, limit=wanted)
            rows.extend(page.items)
            if page.next_cursor is None:
                break
            before = page.next_cursor
        return rows

    rows = run(with_keep(settings(), work))
    if as_json:
        print_json([row.model_dump(mode="json") for row in rows])
        return
    listing = table(
        "user_id", "username", "last active", "sessions", "total cost", "avg cost", "last session"
    )
    for row in rows:
        listing.add_row(
            str(row.user_id),
            row.username or "",
            str(row.last_active_at),
            str(row.total_sessions),
            "" if row.total_cost is None else str(row.total_cost),
            "" if row.avg_cost_per_session is None else str(row.avg_cost_per_session),
            "" if row.last_session_at is None else str(row.last_session_at),
        )
    out.print(listing)

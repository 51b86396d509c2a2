"""SQL for governance events, approvals and emergency stops. Takes a connection; never commits."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.agent_sessions.tables import agent_sessions
from agentkeep.database.rows import keyset_before
from agentkeep.governance.tables import governance_events
from agentkeep.ids import new_id

COLUMNS = [column for column in governance_events.c if not column.name.endswith("_vocabulary")]
SESSION_COLUMNS = list(agent_sessions.c)
# Sessions that could still run: an emergency stop blocks them all. Blocking approved (and
# earlier) sessions too is what makes a stop racing a start safe: the start's row is locked by
# the stop, or the stop waits for it and then sees it running.
LIVE_STATUSES = ("initializing", "pending_approval", "approved", "running", "paused")


async def policy(conn: AsyncConnection) -> dict[str, Any]:
    """The active profile's governance section with its defaults (the gates' own reading)."""
    return dict((await conn.execute(sa.text("SELECT governance_policy()"))).scalar_one())


async def insert(conn: AsyncConnection, values: Mapping[str, Any]) -> sa.RowMapping:
    statement = sa.insert(governance_events).values(id=new_id(), **values).returning(*COLUMNS)
    return (await conn.execute(statement)).mappings().one()


async def list_page(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    *,
    agent_session_id: uuid.UUID | None,
    before: uuid.UUID | None,
    limit: int,
) -> list[sa.RowMapping]:
    statement = sa.select(*COLUMNS).where(
        governance_events.c.user_id == user_id, keyset_before(governance_events, before)
    )
    if agent_session_id is not None:
        statement = statement.where(governance_events.c.agent_session_id == agent_session_id)
    result = await conn.execute(statement.order_by(governance_events.c.id.desc()).limit(limit))
    return list(result.mappings())


async def pending(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    approval_types: list[str],
    *,
    before: uuid.UUID | None,
    limit: int,
) -> list[sa.RowMapping]:
    """Sessions waiting for approval (pending_approval) with no decision of the approval types yet."""
    decided = sa.exists().where(
        governance_events.c.user_id == agent_sessions.c.user_id,
        governance_events.c.agent_session_id == agent_sessions.c.id,
        governance_events.c.event_type.in_(approval_types),
    )
    statement = (
        sa.select(*SESSION_COLUMNS)
        .where(
            agent_sessions.c.user_id == user_id,
            agent_sessions.c.status == "pending_approval",
            keyset_before(agent_sessions, before),
            ~decided,
        )
        .order_by(agent_sessions.c.id.desc())
        .limit(limit)
    )
    return list((await conn.execute(statement)).mappings())


async def session_status(conn: AsyncConnection, user_id: uuid.UUID, session_id: uuid.UUID) -> str | None:
    """The session's status, its row locked until the transaction ends (decide, then move it)."""
    statement = (
        sa.select(agent_sessions.c.status)
        .where(agent_sessions.c.user_id == user_id, agent_sessions.c.id == session_id)
        .with_for_update()
    )
    return (await conn.execute(statement)).scalar_one_or_none()


async def set_status(conn: AsyncConnection, user_id: uuid.UUID, session_id: uuid.UUID, status: str) -> None:
    await conn.execute(
        sa.update(agent_sessions)
        .where(agent_sessions.c.user_id == user_id, agent_sessions.c.id == session_id)
        .values(status=status, version=agent_sessions.c.version + 1)
    )


async def block_live_sessions(
    conn: AsyncConnection, user_id: uuid.UUID, agent_id: uuid.UUID | None = None
) -> list[tuple[uuid.UUID, str]]:
    """Block every live session of the user (of one agent, if named): (id, status before)."""
    live = sa.and_(agent_sessions.c.user_id == user_id, agent_sessions.c.status.in_(LIVE_STATUSES))
    if agent_id is not None:
        live = sa.and_(live, agent_sessions.c.agent_id == agent_id)
    # Locked first, in id order (two stops of one user never deadlock), then changed.
    locked = (
        await conn.execute(
            sa.select(agent_sessions.c.id, agent_sessions.c.status)
            .where(live)
            .order_by(agent_sessions.c.id)
            .with_for_update()
        )
    ).all()
    if not locked:
        return []
    await conn.execute(
        sa.update(agent_sessions)
        .where(agent_sessions.c.user_id == user_id, agent_sessions.c.id.in_([row.id for row in locked]))
        .values(status="blocked", version=agent_sessions.c.version + 1)
    )
    return [(row.id, row.status) for row in locked]


async def operator_stop(
    conn: AsyncConnection, agent_id: uuid.UUID, reason: str, created_by: str | None
) -> list[sa.RowMapping]:
    """operator_emergency_stop (revision 0012): every live session of the agent, across users."""
    statement = sa.text(
        "SELECT agent_session_id, user_id, status_before, event_id"
        " FROM operator_emergency_stop(:agent_id, :reason, :created_by)"
    )
    result = await conn.execute(statement, {"agent_id": agent_id, "reason": reason, "created_by": created_by})
    return list(result.mappings())

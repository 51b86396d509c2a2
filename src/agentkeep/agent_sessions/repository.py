"""SQL for agent sessions. Takes a connection; never commits."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.agent_sessions.status import TERMINAL
from agentkeep.agent_sessions.tables import agent_sessions
from agentkeep.database.rows import keyset_before, update_versioned

COLUMNS = list(agent_sessions.c)


def _key(user_id: uuid.UUID, session_id: uuid.UUID) -> sa.ColumnElement[bool]:
    return sa.and_(agent_sessions.c.user_id == user_id, agent_sessions.c.id == session_id)


async def insert(conn: AsyncConnection, values: Mapping[str, Any]) -> sa.RowMapping:
    statement = sa.insert(agent_sessions).values(**values).returning(*COLUMNS)
    return (await conn.execute(statement)).mappings().one()


async def get(
    conn: AsyncConnection, user_id: uuid.UUID, session_id: uuid.UUID, *, for_update: bool = False
) -> sa.RowMapping | None:
    """The session; ``for_update`` locks it until the transaction ends (check, then change)."""
    statement = sa.select(*COLUMNS, (agent_sessions.c.expires_at <= sa.func.now()).label("is_expired"))
    statement = statement.where(_key(user_id, session_id))
    if for_update:
        statement = statement.with_for_update(of=agent_sessions)
    return (await conn.execute(statement)).mappings().one_or_none()


async def latest_context(conn: AsyncConnection, user_id: uuid.UUID, agent_type: str) -> dict[str, Any] | None:
    statement = (
        sa.select(agent_sessions.c.context)
        .where(agent_sessions.c.user_id == user_id, agent_sessions.c.agent_type == agent_type)
        .order_by(agent_sessions.c.created_at.desc(), agent_sessions.c.id.desc())
        .limit(1)
    )
    return (await conn.execute(statement)).scalar_one_or_none()


async def list_page(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    *,
    status: str | None,
    before: uuid.UUID | None,
    limit: int,
) -> list[sa.RowMapping]:
    statement = sa.select(*COLUMNS).where(
        agent_sessions.c.user_id == user_id, keyset_before(agent_sessions, before)
    )
    if status is not None:
        statement = statement.where(agent_sessions.c.status == status)
    result = await conn.execute(statement.order_by(agent_sessions.c.id.desc()).limit(limit))
    return list(result.mappings())


async def update(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    version: int | None,
    changes: Mapping[str, Any],
) -> sa.RowMapping:
    key = {"user_id": user_id, "id": session_id}
    return await update_versioned(conn, agent_sessions, key, version, changes, COLUMNS, what="agent session")


async def add_cost(
    conn: AsyncConnection, user_id: uuid.UUID, session_id: uuid.UUID, amount: Decimal
) -> sa.RowMapping | None:
    """Add to token_cost atomically; the row's cost-limit check refuses going over.

    None when there is no such session, or it has ended (a terminal status takes no charges).
    """
    statement = (
        sa.update(agent_sessions)
        .where(_key(user_id, session_id), agent_sessions.c.status.not_in(TERMINAL))
        .values(token_cost=agent_sessions.c.token_cost + amount, version=agent_sessions.c.version + 1)
        .returning(*COLUMNS)
    )
    return (await conn.execute(statement)).mappings().one_or_none()


async def mark_persona(
    conn: AsyncConnection, user_id: uuid.UUID, session_id: uuid.UUID, persona_id: uuid.UUID, *, active: bool
) -> None:
    """Add the persona's id to ``personas_active`` (once), or take it out; bumps the version.

    The one-element array is a JSONB parameter, not ``jsonb_build_array``: that function is
    STABLE, and Citus refuses any non-IMMUTABLE function inside a CASE of an UPDATE.
    """
    element = sa.bindparam("persona", [str(persona_id)], type_=JSONB)
    listed = agent_sessions.c.personas_active
    changed = (
        sa.case((listed.op("@>")(element), listed), else_=listed.op("||")(element))
        if active
        else listed.op("-")(sa.literal(str(persona_id), sa.Text))
    )
    statement = (
        sa.update(agent_sessions)
        .where(_key(user_id, session_id))
        .values(personas_active=changed, version=agent_sessions.c.version + 1)
    )
    await conn.execute(statement)

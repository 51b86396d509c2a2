"""SQL for the agents catalog. Takes a connection; never commits."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.agents.tables import agents
from agentkeep.database.rows import fetch_one, update_versioned

COLUMNS = list(agents.c)


async def insert(conn: AsyncConnection, values: Mapping[str, Any]) -> sa.RowMapping:
    return (await conn.execute(sa.insert(agents).values(**values).returning(*COLUMNS))).mappings().one()


async def get(conn: AsyncConnection, agent_id: uuid.UUID) -> sa.RowMapping | None:
    return await fetch_one(conn, agents, {"id": agent_id}, COLUMNS)


async def list_all(conn: AsyncConnection, *, active_only: bool) -> list[sa.RowMapping]:
    statement = sa.select(*COLUMNS).order_by(agents.c.name)
    if active_only:
        statement = statement.where(agents.c.is_active)
    return list((await conn.execute(statement)).mappings())


async def update(
    conn: AsyncConnection, agent_id: uuid.UUID, version: int, changes: Mapping[str, Any]
) -> sa.RowMapping:
    return await update_versioned(conn, agents, {"id": agent_id}, version, changes, COLUMNS, what="agent")

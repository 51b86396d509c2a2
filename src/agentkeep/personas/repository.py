"""SQL for personas and persona activations. Takes a connection; never commits."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.database.rows import fetch_one, update_versioned
from agentkeep.personas.tables import persona_activations, personas

COLUMNS = list(personas.c)
ACTIVATION_COLUMNS = [c for c in persona_activations.c if c.name not in {"created_at", "updated_at"}]


async def insert(conn: AsyncConnection, values: Mapping[str, Any]) -> sa.RowMapping:
    return (await conn.execute(sa.insert(personas).values(**values).returning(*COLUMNS))).mappings().one()


async def get(conn: AsyncConnection, persona_id: uuid.UUID) -> sa.RowMapping | None:
    return await fetch_one(conn, personas, {"id": persona_id}, COLUMNS)


async def list_all(conn: AsyncConnection, *, active_only: bool) -> list[sa.RowMapping]:
    statement = sa.select(*COLUMNS).order_by(personas.c.priority_level, personas.c.persona_name)
    if active_only:
        statement = statement.where(personas.c.is_active)
    return list((await conn.execute(statement)).mappings())


async def update(
    conn: AsyncConnection, persona_id: uuid.UUID, version: int, changes: Mapping[str, Any]
) -> sa.RowMapping:
    return await update_versioned(
        conn, personas, {"id": persona_id}, version, changes, COLUMNS, what="persona"
    )


async def insert_activation(conn: AsyncConnection, values: Mapping[str, Any]) -> sa.RowMapping:
    statement = sa.insert(persona_activations).values(**values).returning(*ACTIVATION_COLUMNS)
    return (await conn.execute(statement)).mappings().one()


async def deactivate(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    agent_session_id: uuid.UUID,
    activation_id: uuid.UUID,
    results: Any,
) -> sa.RowMapping | None:
    statement = (
        sa.update(persona_activations)
        .where(
            persona_activations.c.user_id == user_id,
            persona_activations.c.agent_session_id == agent_session_id,
            persona_activations.c.id == activation_id,
            persona_activations.c.deactivated_at.is_(None),
        )
        .values(deactivated_at=sa.func.now(), results=results)
        .returning(*ACTIVATION_COLUMNS)
    )
    return (await conn.execute(statement)).mappings().one_or_none()


async def activations_of_session(
    conn: AsyncConnection, user_id: uuid.UUID, agent_session_id: uuid.UUID
) -> list[sa.RowMapping]:
    statement = (
        sa.select(*ACTIVATION_COLUMNS)
        .where(
            persona_activations.c.user_id == user_id,
            persona_activations.c.agent_session_id == agent_session_id,
        )
        .order_by(persona_activations.c.activated_at, persona_activations.c.id)
    )
    return list((await conn.execute(statement)).mappings())

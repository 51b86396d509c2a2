"""SQL for decisions and onboarding answers. Takes a connection; never commits."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.database.rows import fetch_one, keyset_before, update_versioned
from agentkeep.decisions.tables import decisions, onboarding_answers
from agentkeep.profiles.tables import profiles

COLUMNS = [c for c in decisions.c if not c.name.endswith("_vocabulary")]
ONBOARDING_COLUMNS = [c for c in onboarding_answers.c if not c.name.endswith("_vocabulary")]


async def decisions_policy(conn: AsyncConnection) -> dict[str, Any] | None:
    """The active profile's ``decisions`` section as stored, or None while no profile is applied."""
    statement = sa.select(profiles.c.content["decisions"]).where(profiles.c.is_active)
    value = (await conn.execute(statement)).scalar_one_or_none()
    return dict(value) if isinstance(value, dict) else None


async def insert(conn: AsyncConnection, values: Mapping[str, Any]) -> sa.RowMapping:
    statement = sa.insert(decisions).values(**values).returning(*COLUMNS)
    return (await conn.execute(statement)).mappings().one()


async def get(conn: AsyncConnection, user_id: uuid.UUID, decision_id: uuid.UUID) -> sa.RowMapping | None:
    return await fetch_one(conn, decisions, {"user_id": user_id, "id": decision_id}, COLUMNS)


async def list_page(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    *,
    subject: str | None,
    decision_type: str | None,
    agent_session_id: uuid.UUID | None,
    before: uuid.UUID | None,
    limit: int,
) -> list[sa.RowMapping]:
    """Newest first (the primary key, or the subject / type index, read backwards)."""
    statement = sa.select(*COLUMNS).where(decisions.c.user_id == user_id, keyset_before(decisions, before))
    if subject is not None:
        statement = statement.where(decisions.c.subject == subject)
    if decision_type is not None:
        statement = statement.where(decisions.c.decision_type == decision_type)
    if agent_session_id is not None:
        statement = statement.where(decisions.c.agent_session_id == agent_session_id)
    result = await conn.execute(statement.order_by(decisions.c.id.desc()).limit(limit))
    return list(result.mappings())


async def set_feedback(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    decision_id: uuid.UUID,
    version: int | None,
    feedback: str,
    recorded_by: str,
) -> sa.RowMapping:
    changes = {"user_feedback": feedback, "feedback_by": recorded_by, "feedback_at": sa.func.now()}
    key = {"user_id": user_id, "id": decision_id}
    return await update_versioned(conn, decisions, key, version, changes, COLUMNS, what="decision")


def acknowledged_now(*, by: str) -> dict[str, Any]:
    """The values that date and record a legal acknowledgement (the transaction's time)."""
    return {"legal_acknowledged_at": sa.func.now(), "legal_acknowledged_by": by}


def _onboarding_key(user_id: uuid.UUID, session_id: uuid.UUID) -> dict[str, uuid.UUID]:
    return {"user_id": user_id, "agent_session_id": session_id}


async def get_onboarding(
    conn: AsyncConnection, user_id: uuid.UUID, session_id: uuid.UUID, *, for_update: bool = False
) -> sa.RowMapping | None:
    key = _onboarding_key(user_id, session_id)
    statement = sa.select(*ONBOARDING_COLUMNS).where(
        *(onboarding_answers.c[name] == value for name, value in key.items())
    )
    if for_update:
        statement = statement.with_for_update()
    return (await conn.execute(statement)).mappings().one_or_none()


async def insert_onboarding(conn: AsyncConnection, values: Mapping[str, Any]) -> sa.RowMapping:
    statement = sa.insert(onboarding_answers).values(**values).returning(*ONBOARDING_COLUMNS)
    return (await conn.execute(statement)).mappings().one()


async def update_onboarding(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    version: int | None,
    changes: Mapping[str, Any],
) -> sa.RowMapping:
    key = _onboarding_key(user_id, session_id)
    return await update_versioned(
        conn, onboarding_answers, key, version, changes, ONBOARDING_COLUMNS, what="onboarding answers"
    )

"""SQL for agent activities and ethical validations. Takes a connection; never commits.

The database enforces the status machine, the gates of approval without asking and the ethics
block, and logs approvals and denials (revision 0013); what is here only reads and writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.activities.tables import agent_activities, ethical_validations
from agentkeep.agent_sessions.tables import agent_sessions
from agentkeep.consent.tables import consent_tiers
from agentkeep.database.rows import keyset_before
from agentkeep.messages.tables import messages

COLUMNS = [
    c
    for c in agent_activities.c
    if c.name not in {"activity_type_vocabulary", "scope_vocabulary", "consent_reason"}
]
VALIDATION_COLUMNS = list(ethical_validations.c)


def _key(user_id: uuid.UUID, activity_id: uuid.UUID) -> sa.ColumnElement[bool]:
    return sa.and_(agent_activities.c.user_id == user_id, agent_activities.c.id == activity_id)


async def insert(conn: AsyncConnection, values: Mapping[str, Any]) -> sa.RowMapping:
    statement = sa.insert(agent_activities).values(**values).returning(*COLUMNS)
    return (await conn.execute(statement)).mappings().one()


async def get(conn: AsyncConnection, user_id: uuid.UUID, activity_id: uuid.UUID) -> sa.RowMapping | None:
    result = await conn.execute(sa.select(*COLUMNS).where(_key(user_id, activity_id)))
    return result.mappings().one_or_none()


async def gate_values(
    conn: AsyncConnection, user_id: uuid.UUID, scope: str, agent_session_id: uuid.UUID | None
) -> tuple[str | None, int]:
    """The scope's active tier, locked until the transaction ends (a tier change waits for the
    decision taken on it), and the agent session's trust level (none: 0)."""
    tier = (
        await conn.execute(
            sa.select(consent_tiers.c.tier_level)
            .where(
                consent_tiers.c.user_id == user_id, consent_tiers.c.scope == scope, consent_tiers.c.is_active
            )
            .with_for_update(read=True)
        )
    ).scalar_one_or_none()
    trust = 0
    if agent_session_id is not None:
        found = (
            await conn.execute(
                sa.select(agent_sessions.c.trust_level).where(
                    agent_sessions.c.user_id == user_id, agent_sessions.c.id == agent_session_id
                )
            )
        ).scalar_one_or_none()
        trust = found or 0
    return tier, trust


async def move(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    activity_id: uuid.UUID,
    *,
    expected: frozenset[str],
    changes: Mapping[str, Any],
) -> sa.RowMapping | None:
    """Change the activity if its status is one of ``expected`` (None otherwise: it moved first).

    Under concurrency the second of two writers waits for the first's row lock, then finds the
    status changed and updates nothing.
    """
    statement = (
        sa.update(agent_activities)
        .where(_key(user_id, activity_id), agent_activities.c.status.in_(sorted(expected)))
        .values(**changes, version=agent_activities.c.version + 1)
        .returning(*COLUMNS)
    )
    return (await conn.execute(statement)).mappings().one_or_none()


async def lock(conn: AsyncConnection, user_id: uuid.UUID, activity_id: uuid.UUID) -> sa.RowMapping | None:
    statement = sa.select(*COLUMNS).where(_key(user_id, activity_id)).with_for_update()
    return (await conn.execute(statement)).mappings().one_or_none()


async def list_page(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    *,
    status: str | None,
    before: uuid.UUID | None,
    limit: int,
) -> list[sa.RowMapping]:
    """Newest first (ids are UUIDv7)."""
    statement = sa.select(*COLUMNS).where(
        agent_activities.c.user_id == user_id, keyset_before(agent_activities, before)
    )
    if status is not None:
        statement = statement.where(agent_activities.c.status == status)
    result = await conn.execute(statement.order_by(agent_activities.c.id.desc()).limit(limit))
    return list(result.mappings())


async def insert_validation(conn: AsyncConnection, values: Mapping[str, Any]) -> sa.RowMapping:
    statement = sa.insert(ethical_validations).values(**values).returning(*VALIDATION_COLUMNS)
    return (await conn.execute(statement)).mappings().one()


async def agent_of_activity(
    conn: AsyncConnection, user_id: uuid.UUID, activity_id: uuid.UUID
) -> uuid.UUID | None:
    """The agent whose session proposed the activity (None: no session, or one of no agent)."""
    statement = (
        sa.select(agent_sessions.c.agent_id)
        .select_from(agent_activities)
        .join(
            agent_sessions,
            sa.and_(
                agent_sessions.c.user_id == agent_activities.c.user_id,
                agent_sessions.c.id == agent_activities.c.agent_session_id,
            ),
        )
        .where(agent_activities.c.user_id == user_id, agent_activities.c.id == activity_id)
    )
    agent_id: uuid.UUID | None = (await conn.execute(statement)).scalar_one_or_none()
    return agent_id


async def override_validation(
    conn: AsyncConnection, user_id: uuid.UUID, validation_id: uuid.UUID
) -> sa.RowMapping | None:
    statement = (
        sa.update(ethical_validations)
        .where(ethical_validations.c.user_id == user_id, ethical_validations.c.id == validation_id)
        .values(is_overridden_by_user=True, version=ethical_validations.c.version + 1)
        .returning(*VALIDATION_COLUMNS)
    )
    return (await conn.execute(statement)).mappings().one_or_none()


async def validations(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    *,
    activity_id: uuid.UUID | None,
    message_id: uuid.UUID | None,
    limit: int,
) -> list[sa.RowMapping]:
    statement = sa.select(*VALIDATION_COLUMNS).where(ethical_validations.c.user_id == user_id)
    if activity_id is not None:
        statement = statement.where(ethical_validations.c.agent_activity_id == activity_id)
    if message_id is not None:
        statement = statement.where(ethical_validations.c.message_id == message_id)
    result = await conn.execute(statement.order_by(ethical_validations.c.id.desc()).limit(limit))
    return list(result.mappings())


async def mark_message(
    conn: AsyncConnection, user_id: uuid.UUID, message_id: uuid.UUID, overall: str
) -> None:
    """Set ``overall`` in the message's ``ethical_validation`` (seed 004's shape): a ``blocked``
    message stays stored but leaves the latest-N context (messages.repository)."""
    merged = sa.func.coalesce(messages.c.ethical_validation, sa.text("'{}'::jsonb")).op("||")(
        sa.func.jsonb_build_object("overall", overall)
    )
    await conn.execute(
        sa.update(messages)
        .where(messages.c.user_id == user_id, messages.c.id == message_id)
        .values(ethical_validation=merged)
    )

"""SQL for trust. Takes a connection; never commits. Writes go through the database's trust
functions (revision 0014): the application role only reads agent_trust_levels and its history."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.agents.tables import agents
from agentkeep.database.rows import keyset_before
from agentkeep.trust.tables import COUNTERS, agent_trust_changes, agent_trust_levels, trust_metrics

CHANGE_COLUMNS = [c for c in agent_trust_changes.c if c.name != "updated_at"]
METRIC_COLUMNS = [
    c for c in trust_metrics.c if c.name not in ("metric_type_vocabulary", "created_at", "updated_at")
]


async def agent_exists(conn: AsyncConnection, agent_id: uuid.UUID) -> bool:
    statement = sa.select(sa.literal(True)).where(agents.c.id == agent_id)
    return bool((await conn.execute(statement)).scalar())


async def get(conn: AsyncConnection, user_id: uuid.UUID, agent_id: uuid.UUID) -> sa.RowMapping | None:
    statement = sa.select(agent_trust_levels).where(
        agent_trust_levels.c.user_id == user_id, agent_trust_levels.c.agent_id == agent_id
    )
    return (await conn.execute(statement)).mappings().one_or_none()


async def initial_level(conn: AsyncConnection) -> int:
    """The active profile's trust.initial_level (default.toml's while none is applied)."""
    value = (await conn.execute(sa.text("SELECT (trust_rules() ->> 'initial_level')::int"))).scalar()
    return int(value or 0)


def no_record(user_id: uuid.UUID, agent_id: uuid.UUID, level: int) -> dict[str, Any]:
    return (
        {"user_id": user_id, "agent_id": agent_id, "level": level, "last_outcome_at": None}
        | {"level_changed_at": None}
        | dict.fromkeys(COUNTERS, 0)
    )


async def history(
    conn: AsyncConnection, user_id: uuid.UUID, agent_id: uuid.UUID, *, before: uuid.UUID | None, limit: int
) -> list[sa.RowMapping]:
    """Newest first (the (user_id, agent_id, id DESC) index)."""
    statement = (
        sa.select(*CHANGE_COLUMNS)
        .where(
            agent_trust_changes.c.user_id == user_id,
            agent_trust_changes.c.agent_id == agent_id,
            keyset_before(agent_trust_changes, before),
        )
        .order_by(agent_trust_changes.c.id.desc())
        .limit(limit)
    )
    return list((await conn.execute(statement)).mappings())


async def metrics(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    agent_id: uuid.UUID,
    *,
    metric_type: str | None,
    before: dt.datetime | None,
    limit: int,
) -> list[sa.RowMapping]:
    """Newest first by recorded_at: an aggregate row (made later) stands at the day it covers."""
    statement = sa.select(*METRIC_COLUMNS).where(
        trust_metrics.c.user_id == user_id, trust_metrics.c.agent_id == agent_id
    )
    if metric_type is not None:
        statement = statement.where(trust_metrics.c.metric_type == metric_type)
    if before is not None:
        statement = statement.where(trust_metrics.c.recorded_at < before)
    statement = statement.order_by(trust_metrics.c.recorded_at.desc(), trust_metrics.c.id.desc()).limit(limit)
    return list((await conn.execute(statement)).mappings())


async def demote(
    conn: AsyncConnection, user_id: uuid.UUID, agent_id: uuid.UUID, reason: str, rule: str = "ethical_block"
) -> int:
    """The hook for a blocked ethical validation: one level down (never below 0), recorded in
    agent_trust_changes with ``reason``, in the caller's transaction. Returns the level after."""
    level = await conn.execute(
        sa.text("SELECT trust_demote(:user_id, :agent_id, :reason, :rule)"),
        {"user_id": user_id, "agent_id": agent_id, "reason": reason, "rule": rule},
    )
    return int(level.scalar_one())


# Retention's "aggregate after 30 days" (seed 002): the due raw rows of one (user, agent, session,
# metric type, day) become one row: the mean weighted by the rows' sample counts, at the day's
# start, with min, max, the last value and the span in measurement_context.
_AGGREGATE = """
INSERT INTO trust_metrics (user_id, id, agent_session_id, agent_id, metric_type, metric_value,
                           measurement_context, sample_count, is_aggregate, recorded_at)
SELECT t.user_id, audit_new_id(), t.agent_session_id, t.agent_id, t.metric_type,
       round(sum(t.metric_value * t.sample_count) / sum(t.sample_count), 2),
       jsonb_build_object('aggregate', jsonb_build_object(
           'rows', count(*), 'min', min(t.metric_value), 'max', max(t.metric_value),
           'last', (array_agg(t.metric_value ORDER BY t.recorded_at DESC, t.id DESC))[1],
           'from', min(t.recorded_at), 'to', max(t.recorded_at))),
       sum(t.sample_count), true, date_trunc('day', t.recorded_at)
  FROM trust_metrics t
 WHERE {due}
 GROUP BY t.user_id, t.agent_session_id, t.agent_id, t.metric_type, date_trunc('day', t.recorded_at)
"""


async def aggregate_due(conn: AsyncConnection, due: str, params: dict[str, Any]) -> int:
    """Write the aggregate rows of the raw rows ``due`` selects (alias ``t``; the caller's SQL of
    catalog identifiers, values bound in ``params``); the caller archives and deletes those rows
    in the same transaction. Returns the number of aggregate rows written."""
    result = await conn.execute(sa.text(_AGGREGATE.format(due=due)), params)
    return int(result.rowcount or 0)

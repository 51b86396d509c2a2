"""Trust: an agent's level for a user, its history and its metrics; demotion by hand or by the
ethics hook. Outcomes are applied by the database when a decision's feedback is set
(docs/trust.md), so nothing here has to be called for trust to follow decisions."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.actors import Actor, acting_user, as_principal
from agentkeep.database.engine import Database
from agentkeep.errors import NotFound
from agentkeep.models import read_all, read_one, reader
from agentkeep.pagination import Page, checked_limit, page_of
from agentkeep.trust import repository
from agentkeep.trust.models import Demotion, TrustChange, TrustLevel, TrustMetric


class TrustService:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def show(self, actor: Actor, agent_id: uuid.UUID) -> TrustLevel:
        user_id = acting_user(actor)
        async with self._database.transaction(as_principal(actor)) as tx:
            return await _level(tx.conn, user_id, agent_id)

    async def history(
        self, actor: Actor, agent_id: uuid.UUID, *, before: uuid.UUID | None = None, limit: int = 50
    ) -> Page[TrustChange]:
        """Every level change, newest first, with its rule and reason."""
        limit = checked_limit(limit)
        user_id = acting_user(actor)
        async with self._database.transaction(as_principal(actor)) as tx:
            await _known_agent(tx.conn, agent_id)
            rows = await repository.history(tx.conn, user_id, agent_id, before=before, limit=limit + 1)
        return page_of(rows, limit, reader(TrustChange, what="trust change"))

    async def metrics(
        self,
        actor: Actor,
        agent_id: uuid.UUID,
        *,
        metric_type: str | None = None,
        before: dt.datetime | None = None,
        limit: int = 50,
    ) -> list[TrustMetric]:
        """The agent's trust metrics, newest first; ``before`` is the last ``recorded_at`` read."""
        limit = checked_limit(limit)
        user_id = acting_user(actor)
        async with self._database.transaction(as_principal(actor)) as tx:
            await _known_agent(tx.conn, agent_id)
            rows = await repository.metrics(
                tx.conn, user_id, agent_id, metric_type=metric_type, before=before, limit=limit
            )
        return read_all(TrustMetric, rows, what="trust metric")

    async def demote(self, actor: Actor, agent_id: uuid.UUID, demotion: Demotion) -> TrustLevel:
        """One level down, never below 0, recorded with the reason (rule ``ethical_block`` or
        ``demotion``)."""
        user_id = acting_user(actor)
        async with self._database.transaction(as_principal(actor)) as tx:
            await _known_agent(tx.conn, agent_id)
            await repository.demote(tx.conn, user_id, agent_id, demotion.reason, demotion.rule)
            return await _level(tx.conn, user_id, agent_id)


async def _known_agent(conn: AsyncConnection, agent_id: uuid.UUID) -> None:
    if not await repository.agent_exists(conn, agent_id):
        raise NotFound("agent not found", field="agent_id")


async def _level(conn: AsyncConnection, user_id: uuid.UUID, agent_id: uuid.UUID) -> TrustLevel:
    await _known_agent(conn, agent_id)
    row = await repository.get(conn, user_id, agent_id)
    if row is None:
        values = repository.no_record(user_id, agent_id, await repository.initial_level(conn))
        return read_one(TrustLevel, values | {"has_record": False}, what="trust level")
    return read_one(TrustLevel, dict(row) | {"has_record": True}, what="trust level")

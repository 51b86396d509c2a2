"""The agents catalog: every principal reads it; only a service principal writes it."""

from __future__ import annotations

import uuid

from agentkeep.agents import repository
from agentkeep.agents.models import Agent, AgentUpdate, NewAgent
from agentkeep.catalog import SERVICE
from agentkeep.database.engine import Database
from agentkeep.errors import NotFound
from agentkeep.ids import new_id
from agentkeep.models import read_all, read_one
from agentkeep.principal import Principal


class AgentService:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def create(self, new: NewAgent, *, actor: Principal = SERVICE) -> Agent:
        async with self._database.transaction(actor) as tx:
            row = await repository.insert(tx.conn, {"id": new_id(), **new.model_dump()})
        return Agent.model_validate(dict(row))

    async def get(self, agent_id: uuid.UUID, *, actor: Principal = SERVICE) -> Agent:
        async with self._database.transaction(actor) as tx:
            row = await repository.get(tx.conn, agent_id)
        if row is None:
            raise NotFound("agent not found")
        return read_one(Agent, row, what="agent")

    async def list(self, *, active_only: bool = False, actor: Principal = SERVICE) -> list[Agent]:
        async with self._database.transaction(actor) as tx:
            rows = await repository.list_all(tx.conn, active_only=active_only)
        return read_all(Agent, rows, what="agent")

    async def update(self, agent_id: uuid.UUID, changes: AgentUpdate, *, actor: Principal = SERVICE) -> Agent:
        values = changes.model_dump(exclude={"version"}, exclude_unset=True)
        async with self._database.transaction(actor) as tx:
            row = await repository.update(tx.conn, agent_id, changes.version, values)
        return Agent.model_validate(dict(row))

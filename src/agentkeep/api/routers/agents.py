"""/api/agents: the shared agent catalog. Anyone reads; service keys write."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from agentkeep.agents.models import Agent, AgentUpdate, NewAgent
from agentkeep.api.dependencies import KeepDep, PrincipalDep
from agentkeep.pagination import Page

router = APIRouter(prefix="/api/agents", tags=["agents"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_agent(keep: KeepDep, principal: PrincipalDep, new: NewAgent) -> Agent:
    return await keep.agents.create(new, actor=principal)


@router.get("")
async def list_agents(keep: KeepDep, principal: PrincipalDep, active_only: bool = False) -> Page[Agent]:
    """The whole catalog in one page (next_cursor is always null)."""
    return Page[Agent](items=await keep.agents.list(active_only=active_only, actor=principal))


@router.get("/{agent_id}")
async def get_agent(keep: KeepDep, principal: PrincipalDep, agent_id: uuid.UUID) -> Agent:
    return await keep.agents.get(agent_id, actor=principal)


@router.patch("/{agent_id}")
async def update_agent(
    keep: KeepDep, principal: PrincipalDep, agent_id: uuid.UUID, changes: AgentUpdate
) -> Agent:
    return await keep.agents.update(agent_id, changes, actor=principal)

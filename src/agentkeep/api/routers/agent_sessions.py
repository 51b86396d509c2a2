"""/api/agent-sessions: runs of an agent for the caller, their status, cost and personas."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query, status

from agentkeep.agent_sessions.models import (
    AgentSession,
    AgentSessionUpdate,
    CostCharge,
    NewAgentSession,
    Status,
    StatusChange,
)
from agentkeep.api.dependencies import KeepDep, UserPrincipalDep
from agentkeep.models import JsonArray, JsonObject
from agentkeep.pagination import MAX_PAGE_SIZE, Page
from agentkeep.personas.models import NewActivation, PersonaActivation

router = APIRouter(prefix="/api/agent-sessions", tags=["agent sessions"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_agent_session(
    keep: KeepDep, principal: UserPrincipalDep, new: NewAgentSession
) -> AgentSession:
    return await keep.agent_sessions.create(principal, new)


@router.get("")
async def list_agent_sessions(
    keep: KeepDep,
    principal: UserPrincipalDep,
    status: Status | None = None,
    before: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> Page[AgentSession]:
    return await keep.agent_sessions.list(principal, status=status, before=before, limit=limit)


@router.get("/{session_id}")
async def get_agent_session(
    keep: KeepDep, principal: UserPrincipalDep, session_id: uuid.UUID
) -> AgentSession:
    return await keep.agent_sessions.get(principal, session_id)


@router.patch("/{session_id}")
async def update_agent_session(
    keep: KeepDep, principal: UserPrincipalDep, session_id: uuid.UUID, changes: AgentSessionUpdate
) -> AgentSession:
    return await keep.agent_sessions.update(principal, session_id, changes)


@router.post("/{session_id}/status")
async def change_status(
    keep: KeepDep, principal: UserPrincipalDep, session_id: uuid.UUID, change: StatusChange
) -> AgentSession:
    return await keep.agent_sessions.transition(principal, session_id, change)


@router.post("/{session_id}/charges")
async def charge(
    keep: KeepDep, principal: UserPrincipalDep, session_id: uuid.UUID, cost: CostCharge
) -> AgentSession:
    return await keep.agent_sessions.charge(principal, session_id, cost)


@router.post("/{session_id}/persona-activations", status_code=status.HTTP_201_CREATED)
async def activate_persona(
    keep: KeepDep, principal: UserPrincipalDep, session_id: uuid.UUID, new: NewActivation
) -> PersonaActivation:
    return await keep.personas.activate(principal, session_id, new)


@router.get("/{session_id}/persona-activations")
async def list_activations(
    keep: KeepDep, principal: UserPrincipalDep, session_id: uuid.UUID
) -> Page[PersonaActivation]:
    """Every activation of the session in one page (next_cursor is always null)."""
    return Page[PersonaActivation](items=await keep.personas.activations(principal, session_id))


@router.post("/{session_id}/persona-activations/{activation_id}/deactivate")
async def deactivate_persona(
    keep: KeepDep,
    principal: UserPrincipalDep,
    session_id: uuid.UUID,
    activation_id: uuid.UUID,
    results: Annotated[JsonObject | JsonArray | None, Body(embed=True)] = None,
) -> PersonaActivation:
    return await keep.personas.deactivate(principal, session_id, activation_id, results)

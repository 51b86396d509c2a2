"""/api/personas: the shared persona catalog. Anyone reads; service keys write."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from agentkeep.api.dependencies import KeepDep, PrincipalDep
from agentkeep.pagination import Page
from agentkeep.personas.models import NewPersona, Persona, PersonaUpdate

router = APIRouter(prefix="/api/personas", tags=["personas"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_persona(keep: KeepDep, principal: PrincipalDep, new: NewPersona) -> Persona:
    return await keep.personas.create(new, actor=principal)


@router.get("")
async def list_personas(keep: KeepDep, principal: PrincipalDep, active_only: bool = False) -> Page[Persona]:
    """The whole catalog in one page (next_cursor is always null)."""
    return Page[Persona](items=await keep.personas.list(active_only=active_only, actor=principal))


@router.get("/{persona_id}")
async def get_persona(keep: KeepDep, principal: PrincipalDep, persona_id: uuid.UUID) -> Persona:
    return await keep.personas.get(persona_id, actor=principal)


@router.patch("/{persona_id}")
async def update_persona(
    keep: KeepDep, principal: PrincipalDep, persona_id: uuid.UUID, changes: PersonaUpdate
) -> Persona:
    return await keep.personas.update(persona_id, changes, actor=principal)

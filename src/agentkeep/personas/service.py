"""Personas (shared catalog) and their activations within a user's agent sessions."""

from __future__ import annotations

import builtins
import uuid
from typing import Any

from agentkeep.actors import Actor, acting_user, as_principal
from agentkeep.catalog import SERVICE
from agentkeep.database.engine import Database
from agentkeep.errors import Conflict, NotFound
from agentkeep.ids import new_id
from agentkeep.personas import repository
from agentkeep.personas.models import NewActivation, NewPersona, Persona, PersonaActivation, PersonaUpdate
from agentkeep.principal import Principal


class PersonaService:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def create(self, new: NewPersona, *, actor: Principal = SERVICE) -> Persona:
        async with self._database.transaction(actor) as tx:
            row = await repository.insert(tx.conn, {"id": new_id(), **new.model_dump()})
        return Persona.model_validate(dict(row))

    async def get(self, persona_id: uuid.UUID, *, actor: Principal = SERVICE) -> Persona:
        async with self._database.transaction(actor) as tx:
            row = await repository.get(tx.conn, persona_id)
        if row is None:
            raise NotFound("persona not found")
        return Persona.model_validate(dict(row))

    async def list(self, *, active_only: bool = False, actor: Principal = SERVICE) -> list[Persona]:
        async with self._database.transaction(actor) as tx:
            rows = await repository.list_all(tx.conn, active_only=active_only)
        return [Persona.model_validate(dict(row)) for row in rows]

    async def update(
        self, persona_id: uuid.UUID, changes: PersonaUpdate, *, actor: Principal = SERVICE
    ) -> Persona:
        values = changes.model_dump(exclude={"version"}, exclude_unset=True)
        async with self._database.transaction(actor) as tx:
            row = await repository.update(tx.conn, persona_id, changes.version, values)
        return Persona.model_validate(dict(row))

    async def activate(
        self, actor: Actor, agent_session_id: uuid.UUID, new: NewActivation
    ) -> PersonaActivation:
        values = {
            "user_id": acting_user(actor),
            "id": new_id(),
            "agent_session_id": agent_session_id,
            **new.model_dump(),
        }
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.insert_activation(tx.conn, values)
        return PersonaActivation.model_validate(dict(row))

    async def deactivate(
        self, actor: Actor, agent_session_id: uuid.UUID, activation_id: uuid.UUID, results: Any = None
    ) -> PersonaActivation:
        """End a persona's activation within the agent session it belongs to."""
        user_id = acting_user(actor)
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.deactivate(tx.conn, user_id, agent_session_id, activation_id, results)
            if row is None:
                known = await repository.activations_of_session(tx.conn, user_id, agent_session_id)
                if activation_id not in {activation["id"] for activation in known}:
                    raise NotFound("no such persona activation in this agent session", field="activation_id")
                raise Conflict("this persona activation has already ended", field="activation_id")
        return PersonaActivation.model_validate(dict(row))

    async def activations(
        self, actor: Actor, agent_session_id: uuid.UUID
    ) -> builtins.list[PersonaActivation]:
        async with self._database.transaction(as_principal(actor)) as tx:
            rows = await repository.activations_of_session(tx.conn, acting_user(actor), agent_session_id)
        return [PersonaActivation.model_validate(dict(row)) for row in rows]

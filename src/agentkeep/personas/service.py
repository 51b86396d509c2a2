"""Personas (shared catalog) and their activations within a user's agent sessions."""

from __future__ import annotations

import builtins
import uuid
from typing import Any

from agentkeep.actors import Actor, acting_user, as_principal
from agentkeep.agent_sessions import repository as agent_sessions
from agentkeep.agent_sessions.status import TERMINAL
from agentkeep.catalog import SERVICE
from agentkeep.database.engine import Database
from agentkeep.errors import Conflict, NotFound
from agentkeep.ids import new_id
from agentkeep.models import checked_json_input, read_all, read_one
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
        return read_one(Persona, row, what="persona")

    async def list(self, *, active_only: bool = False, actor: Principal = SERVICE) -> list[Persona]:
        async with self._database.transaction(actor) as tx:
            rows = await repository.list_all(tx.conn, active_only=active_only)
        return read_all(Persona, rows, what="persona")

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
        """Activate a persona in a live agent session and list it in the session's personas_active."""
        user_id = acting_user(actor)
        values = {
            "user_id": user_id,
            "id": new_id(),
            "agent_session_id": agent_session_id,
            **new.model_dump(),
        }
        async with self._database.transaction(as_principal(actor)) as tx:
            session = await agent_sessions.get(tx.conn, user_id, agent_session_id, for_update=True)
            if session is None:
                raise NotFound("agent session not found", field="agent_session_id")
            if session["status"] in TERMINAL:
                raise Conflict(
                    f"agent session is {session['status']}: no persona can be activated in it",
                    field="agent_session_id",
                )
            row = await repository.insert_activation(tx.conn, values)
            await agent_sessions.mark_persona(tx.conn, user_id, agent_session_id, new.persona_id, active=True)
        return read_one(PersonaActivation, row, what="persona activation")

    async def deactivate(
        self, actor: Actor, agent_session_id: uuid.UUID, activation_id: uuid.UUID, results: Any = None
    ) -> PersonaActivation:
        """End a persona's activation within the agent session it belongs to.

        The persona leaves the session's personas_active unless another activation of it is
        still open there. ``results`` is checked like any JSON input (SDK callers included).
        """
        if results is not None:
            checked_json_input(results, field="results")
        user_id = acting_user(actor)
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.deactivate(tx.conn, user_id, agent_session_id, activation_id, results)
            known = await repository.activations_of_session(tx.conn, user_id, agent_session_id)
            if row is None:
                if activation_id not in {activation["id"] for activation in known}:
                    raise NotFound("no such persona activation in this agent session", field="activation_id")
                raise Conflict("this persona activation has already ended", field="activation_id")
            still_active = any(
                activation["persona_id"] == row["persona_id"] and activation["deactivated_at"] is None
                for activation in known
            )
            if not still_active:
                await agent_sessions.mark_persona(
                    tx.conn, user_id, agent_session_id, row["persona_id"], active=False
                )
        return read_one(PersonaActivation, row, what="persona activation")

    async def activations(
        self, actor: Actor, agent_session_id: uuid.UUID
    ) -> builtins.list[PersonaActivation]:
        user_id = acting_user(actor)
        async with self._database.transaction(as_principal(actor)) as tx:
            # An unknown (or another user's) session is a 404, as for every other route under it.
            if await agent_sessions.get(tx.conn, user_id, agent_session_id) is None:
                raise NotFound("agent session not found", field="agent_session_id")
            rows = await repository.activations_of_session(tx.conn, user_id, agent_session_id)
        return read_all(PersonaActivation, rows, what="persona activation")

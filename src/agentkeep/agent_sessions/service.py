"""Agent sessions: lifecycle through the status machine, cost accounting, carried context."""

from __future__ import annotations

import uuid

from agentkeep.actors import Actor, acting_user, as_principal
from agentkeep.agent_sessions import repository
from agentkeep.agent_sessions.models import (
    AgentSession,
    AgentSessionUpdate,
    CostCharge,
    NewAgentSession,
    StatusChange,
)
from agentkeep.agent_sessions.status import TERMINAL, check_transition
from agentkeep.database.engine import Database
from agentkeep.errors import Conflict, InvalidInput, NotFound, SessionExpired
from agentkeep.ids import new_id
from agentkeep.models import read_one, reader
from agentkeep.pagination import Page, checked_limit, page_of

WHAT = "agent session"


class AgentSessionService:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def create(self, actor: Actor, new: NewAgentSession) -> AgentSession:
        user_id = acting_user(actor)
        if new.carry_context and new.carry_context_from is not None:
            raise InvalidInput(
                "give carry_context or carry_context_from, not both", field="carry_context_from"
            )
        values = new.model_dump(exclude={"carry_context", "carry_context_from"}) | {
            "user_id": user_id,
            "id": new_id(),
        }
        async with self._database.transaction(as_principal(actor)) as tx:
            if new.carry_context:
                carried = await repository.latest_context(tx.conn, user_id, new.agent_type) or {}
                values["context"] = carried | new.context
            elif new.carry_context_from is not None:
                earlier = await repository.get(tx.conn, user_id, new.carry_context_from)
                if earlier is None:
                    raise NotFound(
                        "the agent session to carry context from was not found", field="carry_context_from"
                    )
                values["context"] = earlier["context"] | new.context
            row = await repository.insert(tx.conn, values)
        return read_one(AgentSession, row, what=WHAT)

    async def get(self, actor: Actor, session_id: uuid.UUID) -> AgentSession:
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.get(tx.conn, acting_user(actor), session_id)
        if row is None:
            raise NotFound("agent session not found")
        return read_one(AgentSession, row, what=WHAT)

    async def list(
        self,
        actor: Actor,
        *,
        status: str | None = None,
        before: uuid.UUID | None = None,
        limit: int = 50,
    ) -> Page[AgentSession]:
        limit = checked_limit(limit)
        async with self._database.transaction(as_principal(actor)) as tx:
            rows = await repository.list_page(
                tx.conn, acting_user(actor), status=status, before=before, limit=limit + 1
            )
        return page_of(rows, limit, reader(AgentSession, what=WHAT))

    async def update(self, actor: Actor, session_id: uuid.UUID, changes: AgentSessionUpdate) -> AgentSession:
        """Change the session; an ended one (terminal status) keeps the trust level it ended with."""
        user_id = acting_user(actor)
        values = changes.model_dump(exclude={"version"}, exclude_unset=True)
        async with self._database.transaction(as_principal(actor)) as tx:
            if "trust_level" in values:
                current = await repository.get(tx.conn, user_id, session_id, for_update=True)
                if current is not None and current["status"] in TERMINAL:
                    raise Conflict(
                        f"agent session is {current['status']}: its trust level can no longer change",
                        field="trust_level",
                    )
            row = await repository.update(tx.conn, user_id, session_id, changes.version, values)
        return read_one(AgentSession, row, what=WHAT)

    async def transition(self, actor: Actor, session_id: uuid.UUID, change: StatusChange) -> AgentSession:
        """Move the session along its status machine; an expired session may not start or resume."""
        user_id = acting_user(actor)
        async with self._database.transaction(as_principal(actor)) as tx:
            current = await repository.get(tx.conn, user_id, session_id)
            if current is None:
                raise NotFound("agent session not found")
            check_transition(current["status"], change.status)
            if current["is_expired"] and change.status in {"running", "approved", "pending_approval"}:
                raise SessionExpired(f"agent session expired at {current['expires_at'].isoformat()}")
            values: dict[str, object] = {"status": change.status}
            if change.error_details is not None:
                values["error_details"] = change.error_details
            row = await repository.update(tx.conn, user_id, session_id, change.version, values)
        return read_one(AgentSession, row, what=WHAT)

    async def charge(self, actor: Actor, session_id: uuid.UUID, charge: CostCharge) -> AgentSession:
        """Add cost to the session. Going over max_cost_limit is refused and nothing changes;
        so is a charge to a session that has ended (a terminal status)."""
        user_id = acting_user(actor)
        try:
            async with self._database.transaction(as_principal(actor)) as tx:
                row = await repository.add_cost(tx.conn, user_id, session_id, charge.amount)
                if row is None:
                    current = await repository.get(tx.conn, user_id, session_id)
                    if current is None:
                        raise NotFound("agent session not found")
                    raise Conflict(
                        f"agent session is {current['status']}: it takes no more charges", field="amount"
                    )
        except InvalidInput as exc:
            if exc.field in {"token_cost", "within_cost_limit"}:
                raise Conflict(
                    "this charge would exceed the session's max_cost_limit", field="amount"
                ) from exc
            raise
        return read_one(AgentSession, row, what=WHAT)

"""``keep.activities``: agent activities that wait for consent, and their ethical validations.

The database is the authority (revision 0013): it refuses an illegal transition, an approval
without asking that the consent tier or the trust level does not allow, and the execution of a
blocked activity, and it logs every approval and denial in consent_logs. This service picks the
path an activity takes and explains refusals before the database has to.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.activities import repository
from agentkeep.activities.models import (
    Activity,
    ConsentDecision,
    EthicalValidation,
    NewActivity,
    NewEthicalValidation,
    Outcome,
)
from agentkeep.activities.status import TRANSITIONS, check_transition, reaches
from agentkeep.actors import Actor, acting_user, as_principal
from agentkeep.consent import repository as consent_repository
from agentkeep.database.engine import Database
from agentkeep.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from agentkeep.ids import new_id
from agentkeep.models import read_all, read_one, reader
from agentkeep.pagination import Page, checked_limit, page_of
from agentkeep.trust import repository as trust_repository

WHAT = "agent activity"


def _sources(target: str) -> frozenset[str]:
    return frozenset(status for status, targets in TRANSITIONS.items() if target in targets)


class ActivityService:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def propose(self, actor: Actor, new: NewActivity) -> Activity:
        """Record the activity; it is approved at once when the scope's consent tier and the
        agent session's trust level reach what the profile requires, else it waits for consent."""
        user_id = acting_user(actor)
        values = new.model_dump() | {"user_id": user_id, "id": new_id()}
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.insert(tx.conn, values)
            tier, trust = await repository.gate_values(
                tx.conn, user_id, row["scope"], row["agent_session_id"]
            )
            may_proceed = reaches(tier, row["consent_tier_required"]) and trust >= row["trust_level_required"]
            target = "approved" if may_proceed else "pending_consent"
            moved = await repository.move(
                tx.conn, user_id, row["id"], expected=frozenset({"proposed"}), changes={"status": target}
            )
            assert moved is not None  # the row was inserted by this transaction
        return read_one(Activity, moved, what=WHAT)

    async def get(self, actor: Actor, activity_id: uuid.UUID) -> Activity:
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.get(tx.conn, acting_user(actor), activity_id)
        if row is None:
            raise NotFound("agent activity not found")
        return read_one(Activity, row, what=WHAT)

    async def list(
        self, actor: Actor, *, status: str | None = None, before: uuid.UUID | None = None, limit: int = 50
    ) -> Page[Activity]:
        """Newest first; ``status="pending_consent"`` lists what waits for the user."""
        limit = checked_limit(limit)
        async with self._database.transaction(as_principal(actor)) as tx:
            rows = await repository.list_page(
                tx.conn, acting_user(actor), status=status, before=before, limit=limit + 1
            )
        return page_of(rows, limit, reader(Activity, what=WHAT))

    async def approve(
        self, actor: Actor, activity_id: uuid.UUID, decision: ConsentDecision | None = None
    ) -> Activity:
        """The user consents (logged as approved, with the reason)."""
        reason = (decision or ConsentDecision()).reason
        return await self._move(actor, activity_id, "approved", {"consent_reason": reason}, asked=True)

    async def reject(
        self, actor: Actor, activity_id: uuid.UUID, decision: ConsentDecision | None = None
    ) -> Activity:
        """The user refuses (logged as denied, with the reason)."""
        reason = (decision or ConsentDecision()).reason
        return await self._move(actor, activity_id, "rejected", {"consent_reason": reason}, asked=True)

    async def defer(
        self, actor: Actor, activity_id: uuid.UUID, decision: ConsentDecision | None = None
    ) -> Activity:
        """The user puts the decision off: the activity keeps waiting; the deferral is logged."""
        user_id = acting_user(actor)
        reason = (decision or ConsentDecision()).reason
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.lock(tx.conn, user_id, activity_id)
            if row is None:
                raise NotFound("agent activity not found")
            if row["status"] != "pending_consent":
                raise InvalidTransition(
                    f"agent activity is {row['status']}: only one waiting for consent can be deferred",
                    field="status",
                )
            await consent_repository.add_log(
                tx.conn,
                {
                    "user_id": user_id,
                    "id": new_id(),
                    "agent_activity_id": activity_id,
                    "action": "deferred",
                    "scope": row["scope"],
                    "previous_value": row["status"],
                    "new_value": row["status"],
                    "reason": reason,
                    "metadata": {"activity_type": row["activity_type"], "agent_name": row["agent_name"]},
                },
            )
        return read_one(Activity, row, what=WHAT)

    async def execute(self, actor: Actor, activity_id: uuid.UUID, outcome: Outcome | None = None) -> Activity:
        """Mark an approved activity executed (refused while an ethical validation blocks it)."""
        changes: dict[str, Any] = {"status": "executed"}
        if outcome is not None and outcome.result is not None:
            changes["result"] = outcome.result
        return await self._move(actor, activity_id, "executed", changes)

    async def fail(self, actor: Actor, activity_id: uuid.UUID, outcome: Outcome | None = None) -> Activity:
        changes: dict[str, Any] = {"status": "failed"}
        if outcome is not None and outcome.result is not None:
            changes["result"] = outcome.result
        return await self._move(actor, activity_id, "failed", changes)

    async def _move(
        self,
        actor: Actor,
        activity_id: uuid.UUID,
        target: str,
        changes: Mapping[str, Any],
        *,
        asked: bool = False,
    ) -> Activity:
        user_id = acting_user(actor)
        # A user decides on what waits for them; the proposal itself is never "asked".
        expected = frozenset({"pending_consent"}) if asked else _sources(target)
        try:
            async with self._database.transaction(as_principal(actor)) as tx:
                row = await repository.move(
                    tx.conn, user_id, activity_id, expected=expected, changes={"status": target, **changes}
                )
                if row is None:
                    await _explain(tx.conn, user_id, activity_id, target)
        except InvalidInput as refused:
            if refused.field == "status":  # a rule of the database's (the ethics block)
                raise InvalidTransition(refused.detail, field="status") from refused
            raise
        assert row is not None
        return read_one(Activity, row, what=WHAT)

    # --- ethical validations -----------------------------------------------------------------

    async def validate(self, actor: Actor, new: NewEthicalValidation) -> EthicalValidation:
        """Record an ethical validation of a message or an activity (seed 004). Without a
        validator named, the column's default ('Othello', the profiles' ethics.default_validator)."""
        values = new.model_dump(exclude_none=True) | {"user_id": acting_user(actor), "id": new_id()}
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.insert_validation(tx.conn, values)
            if new.message_id is not None and new.result == "blocked":
                await repository.mark_message(tx.conn, row["user_id"], new.message_id, "blocked")
            if new.agent_activity_id is not None and new.result == "blocked":
                # Issue 10: a blocked activity costs its agent one trust level (docs/trust.md).
                agent_id = await repository.agent_of_activity(tx.conn, row["user_id"], new.agent_activity_id)
                if agent_id is not None:
                    reason = f"ethical validation {row['id']} blocked activity {new.agent_activity_id}"
                    await trust_repository.demote(tx.conn, row["user_id"], agent_id, reason)
        return read_one(EthicalValidation, row, what="ethical validation")

    async def override(self, actor: Actor, validation_id: uuid.UUID) -> EthicalValidation:
        """The user overrides a validation that allows it (a blocked activity may then execute)."""
        try:
            async with self._database.transaction(as_principal(actor)) as tx:
                row = await repository.override_validation(tx.conn, acting_user(actor), validation_id)
                if row is not None and row["message_id"] is not None and row["result"] == "blocked":
                    # The user's override brings the message back into the context.
                    await repository.mark_message(tx.conn, row["user_id"], row["message_id"], "overridden")
        except InvalidInput as refused:
            raise Conflict(
                "this ethical validation does not allow an override", field="is_overridden_by_user"
            ) from refused
        if row is None:
            raise NotFound("ethical validation not found")
        return read_one(EthicalValidation, row, what="ethical validation")

    async def validations(
        self,
        actor: Actor,
        *,
        activity_id: uuid.UUID | None = None,
        message_id: uuid.UUID | None = None,
        limit: int = 50,
    ) -> builtins.list[EthicalValidation]:
        limit = checked_limit(limit)
        async with self._database.transaction(as_principal(actor)) as tx:
            rows = await repository.validations(
                tx.conn, acting_user(actor), activity_id=activity_id, message_id=message_id, limit=limit
            )
        return read_all(EthicalValidation, rows, what="ethical validation")


async def _explain(conn: AsyncConnection, user_id: uuid.UUID, activity_id: uuid.UUID, target: str) -> None:
    """Why an activity did not move: it does not exist, or its status does not allow it."""
    current = await repository.get(conn, user_id, activity_id)
    if current is None:
        raise NotFound("agent activity not found")
    check_transition(current["status"], target)
    raise InvalidTransition(
        f"agent activity is {current['status']}: the user decides only on one waiting for consent",
        field="status",
    )

"""Decisions: record, list newest first with filters, read, and the user's feedback; and the
onboarding answers of an agent session (seed 000 kai_sessions)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from asyncpg import Connection

from agentkeep.actors import Actor, acting_user, as_principal
from agentkeep.consent import repository as consent_repository
from agentkeep.database.engine import Database
from agentkeep.decisions import repository, sealing
from agentkeep.decisions.models import (
    Decision,
    FeedbackChange,
    NewDecision,
    Onboarding,
    OnboardingChange,
)
from agentkeep.errors import ConfigurationError, NotFound
from agentkeep.ids import new_id
from agentkeep.models import read_one
from agentkeep.pagination import Page, checked_limit
from agentkeep.vault.cipher import envelope_key_version
from agentkeep.vault.keyring import DataKey, Keyring

WHAT = "decision"


class DecisionService:
    def __init__(self, database: Database, keyring: Keyring | None = None) -> None:
        self._database = database
        self._keyring = keyring

    async def create(self, actor: Actor, new: NewDecision) -> Decision:
        user_id = acting_user(actor)
        decision_id = new_id()
        values = new.model_dump() | {"user_id": user_id, "id": decision_id}
        async with self._database.transaction(as_principal(actor)) as tx:
            chosen = sealing.policy(await repository.decisions_policy(tx.conn))
            sealing.check_subject(chosen, new.subject)
            to_seal = {column: values.pop(column) for column in chosen.sealed}
            keys: dict[int, DataKey] = {}
            if any(value is not None for value in to_seal.values()):
                key = await self._vault().current(tx.driver, user_id)  # one key for every part
                keys[key.version] = key
                for column, plaintext in to_seal.items():
                    if plaintext is not None:
                        envelope = sealing.sealed_column(column)
                        values[envelope] = key.seal(
                            sealing.TABLE, envelope, str(decision_id), sealing.to_bytes(column, plaintext)
                        )
            row = await repository.insert(tx.conn, values)
            return await self._read(tx.driver, row, keys)

    async def get(self, actor: Actor, decision_id: uuid.UUID) -> Decision:
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.get(tx.conn, acting_user(actor), decision_id)
            if row is None:
                raise NotFound("decision not found")
            return await self._read(tx.driver, row)

    async def list(
        self,
        actor: Actor,
        *,
        subject: str | None = None,
        decision_type: str | None = None,
        agent_session_id: uuid.UUID | None = None,
        before: uuid.UUID | None = None,
        limit: int = 50,
    ) -> Page[Decision]:
        """Newest first; ``before`` is the ``next_cursor`` of the previous page."""
        limit = checked_limit(limit)
        async with self._database.transaction(as_principal(actor)) as tx:
            rows = await repository.list_page(
                tx.conn,
                acting_user(actor),
                subject=subject,
                decision_type=decision_type,
                agent_session_id=agent_session_id,
                before=before,
                limit=limit + 1,
            )
            keys: dict[int, DataKey] = {}  # one key read per key version on the page
            items = [await self._read(tx.driver, row, keys) for row in rows[:limit]]
        return Page(items=items, next_cursor=items[-1].id if len(rows) > limit else None)

    async def set_feedback(self, actor: Actor, decision_id: uuid.UUID, change: FeedbackChange) -> Decision:
        """Record the user's verdict (approved / rejected / modified by default), who gave it
        (the user, or a service for them) and when. Giving it again replaces it; the audit trail
        keeps every earlier one."""
        principal = as_principal(actor)
        async with self._database.transaction(principal) as tx:
            row = await repository.set_feedback(
                tx.conn,
                acting_user(actor),
                decision_id,
                change.version,
                change.user_feedback,
                principal.kind.value,
            )
            return await self._read(tx.driver, row)

    def _vault(self) -> Keyring:
        if self._keyring is None:
            raise ConfigurationError(
                "the active profile encrypts parts of decisions, and no vault keyring is given"
            )
        return self._keyring

    async def _read(
        self, driver: Connection[Any], row: Mapping[Any, Any], keys: dict[int, DataKey] | None = None
    ) -> Decision:
        """The decision with its sealed parts opened (inside the transaction that read it)."""
        keys = {} if keys is None else keys
        values = dict(row)
        encrypted: list[str] = []
        for field, column in sealing.PARTS.items():
            stored = values.pop(sealing.sealed_column(column))
            if stored is None:
                continue
            envelope = bytes(stored)
            encrypted.append(field)
            version = envelope_key_version(envelope)
            if version not in keys:
                keys[version] = await self._vault().version(driver, values["user_id"], version)
            plaintext = keys[version].unseal(
                sealing.TABLE, sealing.sealed_column(column), str(values["id"]), envelope
            )
            values[column] = sealing.from_bytes(column, plaintext)
        values["encrypted_fields"] = encrypted
        return read_one(Decision, values, what=WHAT)


LEGAL_SCOPE = "legal"
"""The consent scope of seed 000's legal acknowledgement (the kai profile's default scope)."""


class OnboardingService:
    """Seed 000's onboarding answers of one agent session (one row, made on the first answer)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def get(self, actor: Actor, agent_session_id: uuid.UUID) -> Onboarding:
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.get_onboarding(tx.conn, acting_user(actor), agent_session_id)
        if row is None:
            raise NotFound("this agent session has no onboarding answers")
        return read_one(Onboarding, row, what="onboarding answers")

    async def set(self, actor: Actor, agent_session_id: uuid.UUID, change: OnboardingChange) -> Onboarding:
        """Answer some questions; the database refuses a term outside the profile's vocabulary and
        ``is_onboarding_complete`` before every question is answered."""
        principal = as_principal(actor)
        user_id = acting_user(actor)
        values: dict[str, Any] = change.model_dump(exclude={"version"}, exclude_unset=True)
        async with self._database.transaction(principal) as tx:
            current = await repository.get_onboarding(tx.conn, user_id, agent_session_id, for_update=True)
            acknowledged = values.get("is_legal_acknowledged")
            already = current is not None and current["is_legal_acknowledged"]
            if acknowledged and not already:
                values |= repository.acknowledged_now(by=principal.kind.value)
            elif acknowledged is False:
                values |= {"legal_acknowledged_at": None, "legal_acknowledged_by": None}
            if current is None:
                if change.version is not None:
                    raise NotFound("this agent session has no onboarding answers yet: leave version out")
                row = await repository.insert_onboarding(
                    tx.conn, values | {"user_id": user_id, "agent_session_id": agent_session_id}
                )
            else:
                row = await repository.update_onboarding(
                    tx.conn, user_id, agent_session_id, change.version, values
                )
            if acknowledged is not None and bool(acknowledged) != bool(already):
                # Seed 000's consent audit: the acknowledgement (or its withdrawal) in the consent log.
                await consent_repository.add_log(
                    tx.conn,
                    {
                        "user_id": user_id,
                        "id": new_id(),
                        "action": "approved" if acknowledged else "denied",
                        "scope": LEGAL_SCOPE,
                        "previous_value": "acknowledged" if already else None,
                        "new_value": "acknowledged" if acknowledged else "withdrawn",
                        "reason": "legal acknowledgement (onboarding)",
                        "metadata": {"agent_session_id": str(agent_session_id)},
                    },
                )
        return read_one(Onboarding, row, what="onboarding answers")

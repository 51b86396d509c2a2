"""``keep.consent``: a user's consent tier per scope, and the log of every consent (seed 004)."""

from __future__ import annotations

import uuid

from agentkeep.actors import Actor, acting_user, as_principal
from agentkeep.consent import repository
from agentkeep.consent.models import (
    ConsentLog,
    ConsentTier,
    NewConsentRecord,
    SettingsChange,
    TierChange,
)
from agentkeep.database.engine import Database
from agentkeep.errors import NotFound
from agentkeep.ids import new_id
from agentkeep.models import read_all, read_one, reader
from agentkeep.pagination import Page, checked_limit, page_of

WHAT = "consent tier"


class ConsentService:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def tiers(self, actor: Actor, *, include_inactive: bool = False) -> list[ConsentTier]:
        """The user's tier per scope, by scope."""
        async with self._database.transaction(as_principal(actor)) as tx:
            rows = await repository.active(tx.conn, acting_user(actor), include_inactive=include_inactive)
        return read_all(ConsentTier, rows, what=WHAT)

    async def get(self, actor: Actor, scope: str) -> ConsentTier:
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.get_active(tx.conn, acting_user(actor), scope)
        if row is None:
            raise NotFound(f"no consent tier for scope {scope!r}", field="scope")
        return read_one(ConsentTier, row, what=WHAT)

    async def set_tier(self, actor: Actor, scope: str, change: TierChange) -> ConsentTier:
        """Set the scope's tier (logged by the database with the tier before and after). A scope
        the user has no row for gets one; a scope outside the profile's vocabulary is refused."""
        user_id = acting_user(actor)
        changes = {"tier_level": change.tier_level, "change_reason": change.reason}
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.change_active(tx.conn, user_id, scope, changes)
            if row is None:
                # Two first settings of one scope at once: the unique index lets one in (409).
                row = await repository.insert(
                    tx.conn, {"user_id": user_id, "id": new_id(), "scope": scope, **changes}
                )
        return read_one(ConsentTier, row, what=WHAT)

    async def update_settings(self, actor: Actor, scope: str, change: SettingsChange) -> ConsentTier:
        """Replace the scope's settings_data (logged as settings_updated, before and after)."""
        changes = {"settings_data": change.settings_data, "change_reason": change.reason}
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.change_active(tx.conn, acting_user(actor), scope, changes)
        if row is None:
            raise NotFound(f"no consent tier for scope {scope!r}", field="scope")
        return read_one(ConsentTier, row, what=WHAT)

    async def record(self, actor: Actor, new: NewConsentRecord) -> ConsentLog:
        """Log a consent given, refused or deferred outside an agent activity."""
        values = new.model_dump() | {"user_id": acting_user(actor), "id": new_id()}
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.add_log(tx.conn, values)
        return read_one(ConsentLog, row, what="consent log entry")

    async def logs(
        self,
        actor: Actor,
        *,
        scope: str | None = None,
        activity_id: uuid.UUID | None = None,
        before: uuid.UUID | None = None,
        limit: int = 50,
    ) -> Page[ConsentLog]:
        """Newest first."""
        limit = checked_limit(limit)
        async with self._database.transaction(as_principal(actor)) as tx:
            rows = await repository.logs(
                tx.conn,
                acting_user(actor),
                scope=scope,
                activity_id=activity_id,
                before=before,
                limit=limit + 1,
            )
        return page_of(rows, limit, reader(ConsentLog, what="consent log entry"))

"""SQL for consent tiers and consent logs. Takes a connection; never commits.

The log entries of tier and settings changes are written by the database (revision 0013's
trigger), from the ``change_reason`` the update carries.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.consent.tables import consent_logs, consent_tiers
from agentkeep.database.rows import keyset_before
from agentkeep.ids import new_id

TIER_COLUMNS = [c for c in consent_tiers.c if c.name not in {"scope_vocabulary", "change_reason"}]
LOG_COLUMNS = [c for c in consent_logs.c if c.name != "updated_at"]
# The active profile's default scopes and tier (revision 0013), else the default profile's.
DEFAULT_SCOPES = sa.text("SELECT scope, tier_level FROM agentkeep_default_consent_scopes()")


async def create_defaults(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    """Give a new user the active profile's default consent scopes (one statement)."""
    defaults = (await conn.execute(DEFAULT_SCOPES)).all()
    if defaults:
        rows = [
            {"user_id": user_id, "id": new_id(), "scope": scope, "tier_level": tier}
            for scope, tier in defaults
        ]
        await conn.execute(sa.insert(consent_tiers), rows)


async def active(
    conn: AsyncConnection, user_id: uuid.UUID, *, include_inactive: bool = False
) -> list[sa.RowMapping]:
    statement = sa.select(*TIER_COLUMNS).where(consent_tiers.c.user_id == user_id)
    if not include_inactive:
        statement = statement.where(consent_tiers.c.is_active)
    statement = statement.order_by(consent_tiers.c.scope, consent_tiers.c.id)
    return list((await conn.execute(statement)).mappings())


async def get_active(conn: AsyncConnection, user_id: uuid.UUID, scope: str) -> sa.RowMapping | None:
    statement = sa.select(*TIER_COLUMNS).where(
        consent_tiers.c.user_id == user_id, consent_tiers.c.scope == scope, consent_tiers.c.is_active
    )
    return (await conn.execute(statement)).mappings().one_or_none()


async def change_active(
    conn: AsyncConnection, user_id: uuid.UUID, scope: str, changes: Mapping[str, Any]
) -> sa.RowMapping | None:
    """Change the scope's active row (None when it has none); the trigger logs the change."""
    statement = (
        sa.update(consent_tiers)
        .where(consent_tiers.c.user_id == user_id, consent_tiers.c.scope == scope, consent_tiers.c.is_active)
        .values(**changes, version=consent_tiers.c.version + 1)
        .returning(*TIER_COLUMNS)
    )
    return (await conn.execute(statement)).mappings().one_or_none()


async def insert(conn: AsyncConnection, values: Mapping[str, Any]) -> sa.RowMapping:
    statement = sa.insert(consent_tiers).values(**values).returning(*TIER_COLUMNS)
    return (await conn.execute(statement)).mappings().one()


async def add_log(conn: AsyncConnection, values: Mapping[str, Any]) -> sa.RowMapping:
    statement = sa.insert(consent_logs).values(**values).returning(*LOG_COLUMNS)
    return (await conn.execute(statement)).mappings().one()


async def logs(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    *,
    scope: str | None,
    activity_id: uuid.UUID | None,
    before: uuid.UUID | None,
    limit: int,
) -> list[sa.RowMapping]:
    """Newest first; ids are UUIDv7, so id order is time order."""
    statement = sa.select(*LOG_COLUMNS).where(
        consent_logs.c.user_id == user_id, keyset_before(consent_logs, before)
    )
    if scope is not None:
        statement = statement.where(consent_logs.c.scope == scope)
    if activity_id is not None:
        statement = statement.where(consent_logs.c.agent_activity_id == activity_id)
    result = await conn.execute(statement.order_by(consent_logs.c.id.desc()).limit(limit))
    return list(result.mappings())

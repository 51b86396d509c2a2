"""Operator reports. Each call needs the operator principal (an operator key, or the CLI)."""

from __future__ import annotations

import uuid

from agentkeep.database.engine import Database
from agentkeep.errors import Forbidden
from agentkeep.operators import repository
from agentkeep.operators.models import UserActivity
from agentkeep.pagination import Page, checked_limit
from agentkeep.principal import Principal


class OperatorService:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def user_activity(
        self, principal: Principal, *, before: uuid.UUID | None = None, limit: int = 50
    ) -> Page[UserActivity]:
        """Seed 001's ``user_activity_summary`` for every user, newest user first.

        Each user returned is audited (``operator_audit_read``) by the database function itself.
        """
        _require_operator(principal)
        limit = checked_limit(limit)
        async with self._database.transaction(principal) as tx:
            rows = await repository.user_activity_summary(tx.conn, before=before, limit=limit + 1)
        items = [UserActivity.model_validate(dict(row)) for row in rows[:limit]]
        cursor = items[-1].user_id if items and len(rows) > limit else None
        return Page(items=items, next_cursor=cursor)


def _require_operator(principal: Principal) -> None:
    # The database refuses too (42501); saying it here names the cause instead of a SQL error.
    if not principal.is_operator:
        raise Forbidden("this needs the operator principal (an operator key)")

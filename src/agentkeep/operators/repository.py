"""SQL of the operator reads: calls of the operator functions (revision 0008), nothing else.

The application role cannot read another user's rows itself; these functions run as the
``agentkeep_operator`` role, refuse any principal but the operator, and audit what they return.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

USER_ACTIVITY_SUMMARY = sa.text(
    "SELECT user_id, username, last_active_at, total_sessions, total_cost, avg_cost_per_session,"
    " last_session_at FROM operator_user_activity_summary(:before, :limit)"
).bindparams(sa.bindparam("before", type_=sa.UUID()), sa.bindparam("limit", type_=sa.Integer()))


async def user_activity_summary(
    conn: AsyncConnection, *, before: uuid.UUID | None, limit: int
) -> list[sa.RowMapping]:
    """Up to ``limit`` users, newest first, with ids below ``before`` when given."""
    result = await conn.execute(USER_ACTIVITY_SUMMARY, {"before": before, "limit": limit})
    return list(result.mappings())

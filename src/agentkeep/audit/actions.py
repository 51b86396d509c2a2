"""Action entries (not row changes) in an audit chain: seed 002's agent actions, retention runs,
operator reads. Takes the caller's connection; the entry commits or rolls back with it."""

from __future__ import annotations

import ipaddress
import json
import uuid
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

RECORD_ACTION = (
    "SELECT audit_record_action(CAST(:user_id AS uuid), CAST(:action_type AS text), CAST(:details AS jsonb),"
    " CAST(:risk_level AS text), CAST(:agent_id AS uuid), CAST(:session_id AS uuid),"
    " CAST(:ip_address AS inet), CAST(:user_agent AS text))"
)
RECORD_ACTION_DRIVER = (
    "SELECT audit_record_action($1::uuid, $2::text, $3::text::jsonb, $4::text, $5::uuid, $6::uuid,"
    " $7::text::inet, $8::text)"
)


async def record_action(
    conn: AsyncConnection | asyncpg.Connection[Any],
    *,
    user_id: uuid.UUID | None,
    action_type: str,
    details: dict[str, Any],
    risk_level: str | None = None,
    agent_id: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
    ip_address: str | ipaddress.IPv4Address | ipaddress.IPv6Address | None = None,
    user_agent: str | None = None,
) -> uuid.UUID:
    """Append an ACTION entry to ``user_id``'s chain (None: the operator chain); its id."""
    values = [
        user_id,
        action_type,
        json.dumps(details),
        risk_level,
        agent_id,
        session_id,
        None if ip_address is None else str(ip_address),
        user_agent,
    ]
    if isinstance(conn, asyncpg.Connection):
        entry_id = await conn.fetchval(RECORD_ACTION_DRIVER, *values)
    else:
        names = [
            "user_id",
            "action_type",
            "details",
            "risk_level",
            "agent_id",
            "session_id",
            "ip_address",
            "user_agent",
        ]
        entry_id = (
            await conn.execute(sa.text(RECORD_ACTION), dict(zip(names, values, strict=True)))
        ).scalar_one()
    assert isinstance(entry_id, uuid.UUID)
    return entry_id

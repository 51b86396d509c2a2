"""Helpers of the governance tests: a profile applied for one test, sessions and raw events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from agentkeep.agent_sessions.models import NewAgentSession, StatusChange
from agentkeep.ids import new_id
from agentkeep.keep import Keep
from agentkeep.profiles.loader import load_profile


@asynccontextmanager
async def applied(keep: Keep, name: str) -> AsyncIterator[None]:
    """``name`` is the active profile for the block; the tests' default profile again after it."""
    await keep.profile.apply(load_profile(name))
    try:
        yield
    finally:
        await keep.profile.apply(load_profile("default"))


async def approved_session(keep: Keep, user_id: uuid.UUID, agent_type: str = "developer") -> uuid.UUID:
    """A session moved to ``approved`` by its status alone (no governance event)."""
    session = await keep.agent_sessions.create(user_id, NewAgentSession(agent_type=agent_type))
    await keep.agent_sessions.transition(user_id, session.id, StatusChange(status="approved"))
    return session.id


async def insert_event(
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    event_type: str,
    *,
    approved: bool,
    framework: str = "consensus",
) -> None:
    await conn.execute(
        "INSERT INTO governance_events (user_id, id, agent_session_id, event_type, framework_type, approved)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        user_id,
        new_id(),
        session_id,
        event_type,
        framework,
        approved,
    )

"""User sessions: tokens shown once, stored hashed; expiry gives a clear error (seed 002)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from agentkeep.errors import Conflict, NotFound, SessionExpired
from agentkeep.keep import Keep
from agentkeep.principal import Principal
from agentkeep.user_sessions.models import NewUserSession


async def test_a_session_token_is_stored_only_as_its_hash(keep: Keep, make_user: Any, as_app: Any) -> None:
    user = await make_user()
    started = await keep.user_sessions.start(
        user.user_id, NewUserSession(ip_address="2001:db8::1", user_agent="pytest", session_type="api")
    )
    async with as_app(Principal.user(user.user_id)) as conn:
        stored = await conn.fetchval("SELECT token_hash FROM user_sessions WHERE id = $1", started.session.id)
        text = await conn.fetchval(
            "SELECT row_to_json(s)::text FROM user_sessions s WHERE id = $1", started.session.id
        )
    assert stored == hashlib.sha256(started.token.encode()).digest()
    assert started.token not in text
    assert started.session.ip_address == "2001:db8::1"


async def test_touch_records_activity_and_an_expired_session_is_refused(
    keep: Keep, make_user: Any, as_app: Any, owner: Any
) -> None:
    user = await make_user()
    started = await keep.user_sessions.start(user.user_id, NewUserSession(ttl_seconds=60))
    touched = await keep.user_sessions.touch(user.user_id, started.token)
    assert touched.last_activity_at >= started.session.last_activity_at
    async with owner.transaction():
        await owner.execute(f"SET LOCAL agentkeep.user_id = '{user.user_id}'")
        await owner.execute(
            "UPDATE user_sessions SET started_at = now() - interval '2 hours',"
            " expires_at = now() - interval '1 hour' WHERE id = $1",
            started.session.id,
        )
    with pytest.raises(SessionExpired, match="expired at"):
        await keep.user_sessions.touch(user.user_id, started.token)
    # The expiry is recorded, and using the session again is still refused.
    assert (await keep.user_sessions.get(user.user_id, started.session.id)).status == "expired"
    with pytest.raises(SessionExpired, match="session is expired"):
        await keep.user_sessions.touch(user.user_id, started.token)


async def test_end_logs_out_once(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    started = await keep.user_sessions.start(user.user_id, NewUserSession())
    ended = await keep.user_sessions.end(user.user_id, started.session.id)
    assert ended.status == "ended" and ended.ended_at is not None
    with pytest.raises(Conflict):
        await keep.user_sessions.end(user.user_id, started.session.id)
    with pytest.raises(SessionExpired):
        await keep.user_sessions.touch(user.user_id, started.token)
    with pytest.raises(NotFound):
        await keep.user_sessions.touch(user.user_id, "not-a-token")
    assert [s.id for s in (await keep.user_sessions.list(user.user_id, active_only=True)).items] == []

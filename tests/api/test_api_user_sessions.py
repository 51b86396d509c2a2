"""The REST API's login sessions: tokens, touch, end, expiry."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
import httpx
from support import (
    Account,
    as_owner_for,
    assert_problem,
)

# --- user sessions --------------------------------------------------------------------------------


async def test_user_session_token_touch_and_end(client: httpx.AsyncClient, alice: Account) -> None:
    started = await client.post(
        "/api/sessions", json={"session_type": "web", "ip_address": "10.0.0.1"}, headers=alice.headers
    )
    assert started.status_code == 201, started.text
    token = started.json()["token"]
    session = started.json()["session"]
    assert token and session["status"] == "active"
    assert session["ip_address"] == "10.0.0.1"

    got = await client.get(f"/api/sessions/{session['id']}", headers=alice.headers)
    assert got.status_code == 200
    assert token not in got.text
    assert "token" not in got.json()

    touched = await client.post("/api/sessions/touch", json={"token": token}, headers=alice.headers)
    assert touched.status_code == 200, touched.text
    assert datetime.fromisoformat(touched.json()["last_activity_at"]) > datetime.fromisoformat(
        session["last_activity_at"]
    )

    assert_problem(
        await client.post("/api/sessions/touch", json={"token": "nope"}, headers=alice.headers), 404
    )

    ended = await client.post(f"/api/sessions/{session['id']}/end", headers=alice.headers)
    assert ended.status_code == 200
    assert ended.json()["status"] == "ended"
    assert ended.json()["ended_at"] is not None
    assert_problem(await client.post(f"/api/sessions/{session['id']}/end", headers=alice.headers), 409)
    after_end = await client.post("/api/sessions/touch", json={"token": token}, headers=alice.headers)
    assert_problem(after_end, 401)
    assert_problem(await client.post(f"/api/sessions/{uuid.uuid4()}/end", headers=alice.headers), 404)


async def test_expired_user_session_is_401(
    client: httpx.AsyncClient, alice: Account, owner: asyncpg.Connection
) -> None:
    started = await client.post("/api/sessions", json={"ttl_seconds": 60}, headers=alice.headers)
    assert started.status_code == 201
    token = started.json()["token"]
    session_id = started.json()["session"]["id"]
    status = await as_owner_for(
        owner,
        alice.user_id,
        "UPDATE user_sessions SET started_at = now() - interval '2 hours', "
        "last_activity_at = now() - interval '2 hours', expires_at = now() - interval '1 hour' WHERE id = $1",
        uuid.UUID(session_id),
    )
    assert status == "UPDATE 1"

    refused = await client.post("/api/sessions/touch", json={"token": token}, headers=alice.headers)
    body = assert_problem(refused, 401, title="Session expired")
    assert "expired" in body["detail"]
    # The expiry was recorded even though the request was refused.
    current = (await client.get(f"/api/sessions/{session_id}", headers=alice.headers)).json()
    assert current["status"] == "expired"
    assert current["ended_at"] is not None
    active = await client.get("/api/sessions", params={"active_only": "true"}, headers=alice.headers)
    assert session_id not in [s["id"] for s in active.json()["items"]]


async def test_session_ttl_below_minimum_is_422(client: httpx.AsyncClient, alice: Account) -> None:
    assert_problem(
        await client.post("/api/sessions", json={"ttl_seconds": 5}, headers=alice.headers),
        422,
        field="ttl_seconds",
    )
    assert (await client.get("/api/sessions", headers=alice.headers)).json()["items"] == []

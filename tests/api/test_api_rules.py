"""Rules a new user ran into: empty PATCHes, ended sessions, personas_active, identity changes,
activity, overdue sessions and pages of sessions."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import asyncpg
import httpx
import pytest
from support import Account, as_owner_for, assert_problem, new_agent_session, persona_body

from agentkeep.api.app import create_app
from agentkeep.keep import Keep


async def _catalog_row(client: httpx.AsyncClient, service: dict[str, str], kind: str) -> str:
    body = (
        {"name": f"a-{uuid.uuid4().hex[:8]}", "persona_type": "assistant"}
        if kind == "agents"
        else persona_body()
    )
    made = await client.post(f"/api/{kind}", json=body, headers=service)
    assert made.status_code == 201, made.text
    return f"/api/{kind}/{made.json()['id']}"


@pytest.mark.parametrize("kind", ["agents", "personas", "agent-sessions", "me"])
async def test_an_empty_patch_bumps_no_version_and_still_checks_it(
    client: httpx.AsyncClient, service: dict[str, str], alice: Account, kind: str
) -> None:
    if kind in ("agents", "personas"):
        url, headers = await _catalog_row(client, service, kind), service
    elif kind == "agent-sessions":
        url, headers = f"/api/agent-sessions/{(await new_agent_session(client, alice))['id']}", alice.headers
    else:
        url, headers = "/api/users/me", alice.headers
    before = (await client.get(url, headers=headers)).json()
    same = await client.patch(url, json={"version": before["version"]}, headers=headers)
    assert same.status_code == 200, same.text
    assert same.json() == before
    stale = await client.patch(url, json={"version": before["version"] + 1}, headers=headers)
    assert_problem(stale, 409, field="version")
    assert (await client.get(url, headers=headers)).json() == before
    assert_problem(await client.patch(url, json={}, headers=headers), 422, field="version")


async def _ended_session(client: httpx.AsyncClient, who: Account) -> str:
    session = await new_agent_session(client, who, max_cost_limit="10")
    url = f"/api/agent-sessions/{session['id']}"
    for status in ("approved", "running", "completed"):
        moved = await client.post(f"{url}/status", json={"status": status}, headers=who.headers)
        assert moved.status_code == 200, moved.text
    return url


async def test_an_ended_session_refuses_charges_trust_changes_and_personas(
    client: httpx.AsyncClient, service: dict[str, str], alice: Account
) -> None:
    url = await _ended_session(client, alice)
    before = (await client.get(url, headers=alice.headers)).json()
    charge = await client.post(f"{url}/charges", json={"amount": "1"}, headers=alice.headers)
    body = assert_problem(charge, 409, field="amount")
    assert "completed" in body["detail"]
    trust = await client.patch(
        url, json={"version": before["version"], "trust_level": 3}, headers=alice.headers
    )
    assert_problem(trust, 409, field="trust_level")
    persona = await client.post("/api/personas", json=persona_body(), headers=service)
    activation = await client.post(
        f"{url}/persona-activations",
        json={"persona_id": persona.json()["id"], "activation_trigger": "late"},
        headers=alice.headers,
    )
    assert_problem(activation, 409, field="agent_session_id")
    assert (await client.get(url, headers=alice.headers)).json() == before
    # What does not change the run (its metadata) may still be written.
    noted = await client.patch(
        url, json={"version": before["version"], "metadata": {"note": "done"}}, headers=alice.headers
    )
    assert noted.status_code == 200, noted.text
    unknown = await client.post(
        f"/api/agent-sessions/{uuid.uuid4()}/charges", json={"amount": "1"}, headers=alice.headers
    )
    assert_problem(unknown, 404)


async def test_activations_keep_the_sessions_personas_active(
    client: httpx.AsyncClient, service: dict[str, str], alice: Account
) -> None:
    session = await new_agent_session(client, alice)
    url = f"/api/agent-sessions/{session['id']}"
    persona = (await client.post("/api/personas", json=persona_body(), headers=service)).json()
    other = (await client.post("/api/personas", json=persona_body(), headers=service)).json()

    async def activate(persona_id: str) -> str:
        made = await client.post(
            f"{url}/persona-activations",
            json={"persona_id": persona_id, "activation_trigger": "t"},
            headers=alice.headers,
        )
        assert made.status_code == 201, made.text
        return str(made.json()["id"])

    async def active() -> list[str]:
        return list((await client.get(url, headers=alice.headers)).json()["personas_active"])

    first = await activate(persona["id"])
    second = await activate(persona["id"])
    await activate(other["id"])
    assert await active() == [persona["id"], other["id"]]
    assert (await client.get(url, headers=alice.headers)).json()["version"] > session["version"]

    ended = await client.post(f"{url}/persona-activations/{first}/deactivate", headers=alice.headers)
    assert ended.status_code == 200
    assert await active() == [persona["id"], other["id"]]  # its second activation is still open
    await client.post(f"{url}/persona-activations/{second}/deactivate", headers=alice.headers)
    assert await active() == [other["id"]]


async def test_a_user_key_cannot_probe_for_other_accounts_through_patch_me(
    client: httpx.AsyncClient, service: dict[str, str], alice: Account, bob: Account
) -> None:
    bob_me = (await client.get("/api/users/me", headers=bob.headers)).json()
    alice_me = (await client.get("/api/users/me", headers=alice.headers)).json()
    answers = []
    for field, taken, free in (
        ("email", bob_me["email"], f"free-{uuid.uuid4().hex[:8]}@example.com"),
        ("username", "bob_" + uuid.uuid4().hex[:8], "free_" + uuid.uuid4().hex[:8]),
    ):
        if field == "username":  # give bob that username first, through the service
            named = await client.patch(
                "/api/users/me",
                json={"version": bob_me["version"], "username": taken},
                headers=service | {"X-Agentkeep-User": bob.user_id},
            )
            assert named.status_code == 200, named.text
        for value in (taken, free):
            response = await client.patch(
                "/api/users/me", json={"version": alice_me["version"], field: value}, headers=alice.headers
            )
            body = assert_problem(response, 403, field=field)
            answers.append((field, body["detail"]))
        # Taken or free: the same answer, so it tells nothing about other accounts.
        assert answers[-1] == answers[-2]
    assert (await client.get("/api/users/me", headers=alice.headers)).json() == alice_me
    # The user's own profile is still theirs to change; the service still gets the 409.
    renamed = await client.patch(
        "/api/users/me", json={"version": alice_me["version"], "full_name": "Alice"}, headers=alice.headers
    )
    assert renamed.json()["full_name"] == "Alice"
    taken_by_service = await client.patch(
        "/api/users/me",
        json={"version": renamed.json()["version"], "email": bob_me["email"]},
        headers=service | {"X-Agentkeep-User": alice.user_id},
    )
    assert_problem(taken_by_service, 409, field="email")


async def test_authenticated_requests_record_activity_at_most_once_a_minute(
    keep: Keep, alice: Account, owner: asyncpg.Connection
) -> None:
    # A fresh app: the one that made alice has already recorded her activity this minute.
    transport = httpx.ASGITransport(app=create_app(keep=keep))
    client = httpx.AsyncClient(transport=transport, base_url="http://agentkeep.test")

    async def last_active() -> datetime:
        me = await client.get("/api/users/me", headers=alice.headers)
        return datetime.fromisoformat(me.json()["last_active_at"])

    async def age_it() -> None:
        sql = "UPDATE users SET last_active_at = now() - interval '1 hour' WHERE user_id = $1"
        assert await as_owner_for(owner, alice.user_id, sql, uuid.UUID(alice.user_id)) == "UPDATE 1"

    await age_it()
    first = await last_active()
    database_now = await owner.fetchval("SELECT now()")
    assert first > database_now - timedelta(minutes=1)
    # Within the minute, requests do not write it again.
    await age_it()
    assert await last_active() < database_now - timedelta(minutes=59)
    await client.aclose()


async def test_overdue_sessions_are_listed_as_expired_and_sessions_page(
    client: httpx.AsyncClient, alice: Account, owner: asyncpg.Connection
) -> None:
    started = [
        (await client.post("/api/sessions", headers=alice.headers)).json()["session"] for _ in range(3)
    ]
    sql = (
        "UPDATE user_sessions SET started_at = now() - interval '2 hours',"
        " last_activity_at = now() - interval '2 hours', expires_at = now() - interval '1 second'"
        " WHERE id = $1"
    )
    assert await as_owner_for(owner, alice.user_id, sql, uuid.UUID(started[0]["id"])) == "UPDATE 1"

    listed = (await client.get("/api/sessions", headers=alice.headers)).json()
    status = {s["id"]: s["status"] for s in listed["items"]}
    assert status == {started[0]["id"]: "expired", started[1]["id"]: "active", started[2]["id"]: "active"}
    active = (await client.get("/api/sessions", params={"active_only": "true"}, headers=alice.headers)).json()
    assert {s["id"] for s in active["items"]} == {started[1]["id"], started[2]["id"]}

    first_page = (await client.get("/api/sessions", params={"limit": 2}, headers=alice.headers)).json()
    assert [s["id"] for s in first_page["items"]] == [started[2]["id"], started[1]["id"]]
    rest = await client.get(
        "/api/sessions", params={"limit": 2, "before": first_page["next_cursor"]}, headers=alice.headers
    )
    assert [s["id"] for s in rest.json()["items"]] == [started[0]["id"]]
    assert rest.json()["next_cursor"] is None

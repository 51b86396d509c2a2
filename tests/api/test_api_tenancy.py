"""The REST API keeps users apart, and optimistic versions refuse lost updates."""

from __future__ import annotations

import httpx
from support import (
    PROBLEM_JSON,
    Account,
    agent_session_ids,
    append,
    assert_problem,
    message_ids,
    new_agent_session,
    new_conversation,
    persona_body,
)

# --- tenancy --------------------------------------------------------------------------------------


async def test_other_users_rows_are_404_and_never_listed(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    mine = await new_conversation(client, alice, "alice's")
    theirs = await new_conversation(client, bob, "bob's")
    their_message = await append(client, bob, theirs["id"], "private")
    their_session = await new_agent_session(client, bob)
    their_started = await client.post("/api/sessions", headers=bob.headers)
    assert their_started.status_code == 201

    for url in (
        f"/api/conversations/{theirs['id']}",
        f"/api/messages/{their_message['id']}",
        f"/api/messages/{their_message['id']}/thread",
        f"/api/agent-sessions/{their_session['id']}",
        f"/api/sessions/{their_started.json()['session']['id']}",
    ):
        assert_problem(await client.get(url, headers=alice.headers), 404)
    assert_problem(
        await client.patch(
            f"/api/conversations/{theirs['id']}",
            json={"title": "mine now", "version": 1},
            headers=alice.headers,
        ),
        404,
    )
    assert_problem(await client.delete(f"/api/conversations/{theirs['id']}", headers=alice.headers), 404)
    assert_problem(await client.delete(f"/api/messages/{their_message['id']}", headers=alice.headers), 404)
    assert_problem(
        await client.post(
            f"/api/agent-sessions/{their_session['id']}/status",
            json={"status": "cancelled"},
            headers=alice.headers,
        ),
        404,
    )
    assert_problem(await client.delete(f"/api/keys/{bob.key_id}", headers=alice.headers), 404)
    assert_problem(
        await client.post(
            "/api/sessions/touch", json={"token": their_started.json()["token"]}, headers=alice.headers
        ),
        404,
    )

    listed = await client.get("/api/conversations", params={"archived": "true"}, headers=alice.headers)
    listed_live = await client.get("/api/conversations", headers=alice.headers)
    assert [c["id"] for c in listed_live.json()["items"]] == [mine["id"]]
    assert listed.json()["items"] == []
    their_messages = await client.get(f"/api/conversations/{theirs['id']}/messages", headers=alice.headers)
    assert their_messages.status_code in (200, 404)
    if their_messages.status_code == 200:
        assert their_messages.json()["items"] == []
    latest = await client.get(f"/api/conversations/{theirs['id']}/messages/latest", headers=alice.headers)
    assert latest.status_code in (200, 404)
    if latest.status_code == 200:
        assert latest.json()["items"] == []
    assert await agent_session_ids(client, alice) == []
    assert (await client.get("/api/sessions", headers=alice.headers)).json()["items"] == []
    assert [k["id"] for k in (await client.get("/api/keys", headers=alice.headers)).json()["items"]] == [
        alice.key_id
    ]

    # Bob's rows are untouched and still his.
    assert (await client.get(f"/api/conversations/{theirs['id']}", headers=bob.headers)).json()[
        "title"
    ] == "bob's"
    assert (await client.get(f"/api/messages/{their_message['id']}", headers=bob.headers)).status_code == 200
    assert (await client.get(f"/api/agent-sessions/{their_session['id']}", headers=bob.headers)).json()[
        "status"
    ] == "initializing"
    assert (await client.get("/api/conversations", headers=bob.headers)).status_code == 200


async def test_cannot_append_to_another_users_conversation(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    theirs = await new_conversation(client, bob)
    first = await append(client, bob, theirs["id"], "one")
    before = await message_ids(client, bob, theirs["id"])

    single = await client.post(
        f"/api/conversations/{theirs['id']}/messages",
        json={"role": "user", "content": "intrude"},
        headers=alice.headers,
    )
    assert_problem(single, 404)
    batch = await client.post(
        f"/api/conversations/{theirs['id']}/messages/batch",
        json={"messages": [{"role": "user", "content": "intrude"}] * 3},
        headers=alice.headers,
    )
    assert_problem(batch, 404)
    # A reply of Alice's in her own conversation cannot hang off Bob's message either.
    mine = await new_conversation(client, alice)
    reply = await client.post(
        f"/api/conversations/{mine['id']}/messages",
        json={"role": "user", "content": "re", "parent_message_id": first["id"]},
        headers=alice.headers,
    )
    assert 400 <= reply.status_code < 500
    assert reply.headers["content-type"].startswith(PROBLEM_JSON)

    assert await message_ids(client, bob, theirs["id"]) == before
    assert await message_ids(client, alice, mine["id"]) == []


async def test_cannot_activate_persona_on_another_users_session(
    client: httpx.AsyncClient, service: dict[str, str], alice: Account, bob: Account
) -> None:
    persona = await client.post("/api/personas", json=persona_body(), headers=service)
    assert persona.status_code == 201
    theirs = await new_agent_session(client, bob)
    response = await client.post(
        f"/api/agent-sessions/{theirs['id']}/persona-activations",
        json={"persona_id": persona.json()["id"], "activation_trigger": "intrude"},
        headers=alice.headers,
    )
    assert_problem(response, 404)
    listed = await client.get(f"/api/agent-sessions/{theirs['id']}/persona-activations", headers=bob.headers)
    assert listed.json()["items"] == []


# --- versioning -----------------------------------------------------------------------------------


async def test_stale_version_is_409_and_row_unchanged(client: httpx.AsyncClient, alice: Account) -> None:
    conversation = await new_conversation(client, alice, "v1")
    url = f"/api/conversations/{conversation['id']}"
    moved = await client.patch(url, json={"title": "v2", "version": 1}, headers=alice.headers)
    assert moved.json()["version"] == 2

    stale = await client.patch(url, json={"title": "lost update", "version": 1}, headers=alice.headers)
    assert_problem(stale, 409, field="version")
    current = (await client.get(url, headers=alice.headers)).json()
    assert current["title"] == "v2"
    assert current["version"] == 2

    session = await new_agent_session(client, alice)
    session_url = f"/api/agent-sessions/{session['id']}"
    stale_status = await client.post(
        f"{session_url}/status", json={"status": "approved", "version": 7}, headers=alice.headers
    )
    assert_problem(stale_status, 409, field="version")
    assert (await client.get(session_url, headers=alice.headers)).json()["status"] == "initializing"

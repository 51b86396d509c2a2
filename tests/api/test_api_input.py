"""The REST API refuses bad input with a problem body naming the field, and stores nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from support import (
    MAX_BODY,
    Account,
    agent_session_ids,
    append,
    assert_problem,
    message_ids,
    new_agent_session,
    new_conversation,
)

# --- bad input ------------------------------------------------------------------------------------


async def test_bad_email_is_422_and_nothing_stored(
    client: httpx.AsyncClient, service: dict[str, str]
) -> None:
    username = f"u_{uuid.uuid4().hex[:12]}"
    refused = await client.post(
        "/api/users", json={"email": "not-an-email", "username": username}, headers=service
    )
    assert_problem(refused, 422, field="email")
    # Had the first request stored a user, its username would now be taken (409).
    created = await client.post(
        "/api/users", json={"email": f"{username}@example.com", "username": username}, headers=service
    )
    assert created.status_code == 201, created.text
    again = await client.post(
        "/api/users", json={"email": f"other-{username}@example.com", "username": username}, headers=service
    )
    assert_problem(again, 409, field="username")


async def test_unknown_role_is_422_and_nothing_stored(client: httpx.AsyncClient, alice: Account) -> None:
    conversation = await new_conversation(client, alice)
    base = f"/api/conversations/{conversation['id']}/messages"
    await append(client, alice, conversation["id"], "ok")
    before = await message_ids(client, alice, conversation["id"])

    single = await client.post(base, json={"role": "wizard", "content": "abracadabra"}, headers=alice.headers)
    assert_problem(single, 422, field_contains="role")
    batch = await client.post(
        f"{base}/batch",
        json={"messages": [{"role": "user", "content": "fine"}, {"role": "wizard", "content": "bad"}]},
        headers=alice.headers,
    )
    body = assert_problem(batch, 422, field_contains="role")
    assert any(e["field"].startswith("messages.1") for e in body["errors"])
    empty = await client.post(f"{base}/batch", json={"messages": []}, headers=alice.headers)
    assert_problem(empty, 422, field="messages")
    assert await message_ids(client, alice, conversation["id"]) == before


async def test_trust_level_out_of_range_is_422(client: httpx.AsyncClient, alice: Account) -> None:
    refused = await client.post(
        "/api/agent-sessions", json={"agent_type": "assistant", "trust_level": 7}, headers=alice.headers
    )
    assert_problem(refused, 422, field="trust_level")
    assert await agent_session_ids(client, alice) == []


async def test_negative_cost_is_422(client: httpx.AsyncClient, alice: Account) -> None:
    refused = await client.post(
        "/api/agent-sessions", json={"agent_type": "assistant", "estimated_cost": -1}, headers=alice.headers
    )
    assert_problem(refused, 422, field="estimated_cost")
    assert await agent_session_ids(client, alice) == []

    session = await new_agent_session(client, alice)
    url = f"/api/agent-sessions/{session['id']}"
    charged = await client.post(f"{url}/charges", json={"amount": "0.5"}, headers=alice.headers)
    assert charged.status_code == 200
    negative = await client.post(f"{url}/charges", json={"amount": -1}, headers=alice.headers)
    assert_problem(negative, 422, field="amount")
    current = (await client.get(url, headers=alice.headers)).json()
    assert float(current["token_cost"]) == 0.5
    assert current["version"] == charged.json()["version"]


async def test_malformed_json_is_400(client: httpx.AsyncClient, alice: Account) -> None:
    conversation = await new_conversation(client, alice)
    response = await client.post(
        f"/api/conversations/{conversation['id']}/messages",
        content=b'{"role": "user", "content": "unterminated',
        headers=alice.headers | {"content-type": "application/json"},
    )
    assert_problem(response, 400, title="Malformed JSON")
    assert await message_ids(client, alice, conversation["id"]) == []


async def test_oversized_body_is_413(client: httpx.AsyncClient, alice: Account) -> None:
    conversation = await new_conversation(client, alice)
    huge = {"role": "user", "content": "x" * (MAX_BODY + 10)}
    response = await client.post(
        f"/api/conversations/{conversation['id']}/messages", json=huge, headers=alice.headers
    )
    body = assert_problem(response, 413)
    assert str(MAX_BODY) in body["detail"]
    assert await message_ids(client, alice, conversation["id"]) == []


async def test_oversized_streamed_body_is_413(client: httpx.AsyncClient, alice: Account) -> None:
    """No Content-Length: the limit must hold while the body streams in."""
    conversation = await new_conversation(client, alice)
    payload = json.dumps({"role": "user", "content": "x" * (MAX_BODY + 10)}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 64 * 1024):
            yield payload[start : start + 64 * 1024]

    response = await client.post(
        f"/api/conversations/{conversation['id']}/messages",
        content=chunks(),
        headers=alice.headers | {"content-type": "application/json"},
    )
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert_problem(response, 413)
    assert await message_ids(client, alice, conversation["id"]) == []


async def test_small_streamed_body_is_accepted(client: httpx.AsyncClient, alice: Account) -> None:
    conversation = await new_conversation(client, alice)
    payload = json.dumps({"role": "user", "content": "streamed"}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        yield payload[:10]
        yield payload[10:]

    response = await client.post(
        f"/api/conversations/{conversation['id']}/messages",
        content=chunks(),
        headers=alice.headers | {"content-type": "application/json"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["content"] == "streamed"


async def test_unknown_field_is_422(client: httpx.AsyncClient, alice: Account) -> None:
    conversation = await new_conversation(client, alice)
    url = f"/api/conversations/{conversation['id']}"
    response = await client.post(
        f"{url}/messages", json={"role": "user", "content": "hi", "colour": "red"}, headers=alice.headers
    )
    assert_problem(response, 422, field="colour")
    typo = await client.patch(url, json={"titel": "typo"}, headers=alice.headers)
    assert_problem(typo, 422, field="titel")
    assert await message_ids(client, alice, conversation["id"]) == []
    current = (await client.get(url, headers=alice.headers)).json()
    assert current["version"] == 1
    assert current["title"] == conversation["title"]


@pytest.mark.parametrize("limit", [0, 1000, -1])
async def test_limit_out_of_range_is_422(client: httpx.AsyncClient, alice: Account, limit: int) -> None:
    conversation = await new_conversation(client, alice)
    for url in (
        "/api/conversations",
        "/api/agent-sessions",
        f"/api/conversations/{conversation['id']}/messages",
        f"/api/conversations/{conversation['id']}/messages/latest",
    ):
        assert_problem(
            await client.get(url, params={"limit": limit}, headers=alice.headers), 422, field="limit"
        )


async def test_bad_path_id_is_422(client: httpx.AsyncClient, alice: Account) -> None:
    assert_problem(
        await client.get("/api/conversations/not-a-uuid", headers=alice.headers), 422, field="conversation_id"
    )

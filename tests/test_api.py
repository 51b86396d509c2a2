"""The REST API over a real database: auth, CRUD, tenancy, versioning, refusals, problem bodies.

Every test talks HTTP to ``create_app(keep=keep)`` through ``client``; users and their keys are
made through the API itself (service key creates the user, then that user's key).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from agentkeep.api.app import create_app
from agentkeep.database.engine import Database
from agentkeep.database.urls import DatabaseUrls
from agentkeep.keep import Keep

PROBLEM_JSON = "application/problem+json"
MAX_BODY = 1_048_576  # Settings.max_request_bytes default


@dataclass(frozen=True)
class Account:
    user_id: str
    key: str
    key_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_problem(
    response: httpx.Response,
    status: int,
    *,
    field: str | None = None,
    field_contains: str | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """An RFC 9457 body with the given status; optionally naming ``field`` in errors[]."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["status"] == status
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    if title is not None:
        assert body["title"] == title
    fields = [error["field"] for error in body.get("errors", [])]
    if field is not None:
        assert field in fields, body
    if field_contains is not None:
        assert any(field_contains in name for name in fields), body
    return body


@pytest.fixture
def service(service_key: str) -> dict[str, str]:
    return bearer(service_key)


@pytest.fixture
def new_account(client: httpx.AsyncClient, service: dict[str, str]) -> Callable[[], Awaitable[Account]]:
    async def make() -> Account:
        suffix = uuid.uuid4().hex[:12]
        created = await client.post(
            "/api/users", json={"email": f"api-{suffix}@example.com"}, headers=service
        )
        assert created.status_code == 201, created.text
        user_id = created.json()["user_id"]
        key = await client.post(
            "/api/keys", json={"name": "tests"}, headers=service | {"X-Agentkeep-User": user_id}
        )
        assert key.status_code == 201, key.text
        body = key.json()
        assert body["secret"].startswith("ak_")
        assert body["key"]["user_id"] == user_id
        return Account(user_id=user_id, key=body["secret"], key_id=body["key"]["id"])

    return make


@pytest.fixture
async def alice(new_account: Callable[[], Awaitable[Account]]) -> Account:
    return await new_account()


@pytest.fixture
async def bob(new_account: Callable[[], Awaitable[Account]]) -> Account:
    return await new_account()


async def new_conversation(
    client: httpx.AsyncClient, who: Account, title: str | None = "chat"
) -> dict[str, Any]:
    response = await client.post("/api/conversations", json={"title": title}, headers=who.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def append(
    client: httpx.AsyncClient, who: Account, conversation_id: str, content: str, **fields: Any
) -> dict[str, Any]:
    body = {"role": "user", "content": content} | fields
    response = await client.post(
        f"/api/conversations/{conversation_id}/messages", json=body, headers=who.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def message_ids(client: httpx.AsyncClient, who: Account, conversation_id: str) -> list[str]:
    response = await client.get(
        f"/api/conversations/{conversation_id}/messages", params={"limit": 200}, headers=who.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    return [m["id"] for m in response.json()["items"]]


async def new_agent_session(client: httpx.AsyncClient, who: Account, **fields: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/agent-sessions", json={"agent_type": "assistant"} | fields, headers=who.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def agent_session_ids(client: httpx.AsyncClient, who: Account) -> list[str]:
    response = await client.get("/api/agent-sessions", params={"limit": 200}, headers=who.headers)
    assert response.status_code == 200, response.text
    return [s["id"] for s in response.json()["items"]]


async def as_owner_for(owner: asyncpg.Connection, user_id: str, sql: str, *args: Any) -> str:
    """Run ``sql`` as the schema owner acting for ``user_id`` (FORCE RLS binds the owner too)."""
    async with owner.transaction():
        await owner.execute(f"SET LOCAL agentkeep.user_id = '{uuid.UUID(user_id)}'")
        return await owner.execute(sql, *args)


# --- authentication -------------------------------------------------------------------------------


async def test_no_key_is_401_problem_with_www_authenticate(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/conversations")
    assert_problem(response, 401, title="Unauthenticated")
    assert response.headers["www-authenticate"].lower().startswith("bearer")


@pytest.mark.parametrize(
    "key",
    [
        "not-a-key",
        "ak_",
        "ak_nothex_secret",
        f"ak_{uuid.uuid4().hex}_wrongsecret",
        f"ak_{uuid.uuid4().hex}_",
        "aks_wrongsecret",
    ],
)
async def test_bogus_key_is_401(client: httpx.AsyncClient, key: str) -> None:
    response = await client.get("/api/conversations", headers=bearer(key))
    assert_problem(response, 401)
    assert "www-authenticate" in response.headers


async def test_right_user_wrong_secret_is_401(client: httpx.AsyncClient, alice: Account) -> None:
    forged = f"ak_{uuid.UUID(alice.user_id).hex}_{'x' * 40}"
    assert_problem(await client.get("/api/conversations", headers=bearer(forged)), 401)
    assert (await client.get("/api/conversations", headers=alice.headers)).status_code == 200


async def test_revoked_key_is_401(client: httpx.AsyncClient, alice: Account) -> None:
    created = await client.post("/api/keys", json={"name": "to revoke"}, headers=alice.headers)
    assert created.status_code == 201
    second = created.json()
    assert (await client.get("/api/conversations", headers=bearer(second["secret"]))).status_code == 200

    revoked = await client.delete(f"/api/keys/{second['key']['id']}", headers=alice.headers)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None

    assert_problem(await client.get("/api/conversations", headers=bearer(second["secret"])), 401)
    # The other key still works, and revoking twice finds no active key.
    assert (await client.get("/api/conversations", headers=alice.headers)).status_code == 200
    assert_problem(await client.delete(f"/api/keys/{second['key']['id']}", headers=alice.headers), 404)
    listed = await client.get("/api/keys", headers=alice.headers)
    assert {k["id"] for k in listed.json()} == {alice.key_id, second["key"]["id"]}
    assert "secret" not in json.dumps(listed.json())


async def test_expired_key_is_401(
    client: httpx.AsyncClient, alice: Account, owner: asyncpg.Connection
) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    created = await client.post("/api/keys", json={"name": "old", "expires_at": past}, headers=alice.headers)
    assert created.status_code == 201
    assert_problem(await client.get("/api/conversations", headers=bearer(created.json()["secret"])), 401)

    # A key that works stops working once its expiry passes.
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    live = await client.post("/api/keys", json={"name": "soon", "expires_at": future}, headers=alice.headers)
    secret = live.json()["secret"]
    assert (await client.get("/api/conversations", headers=bearer(secret))).status_code == 200
    status = await as_owner_for(
        owner,
        alice.user_id,
        "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1",
        uuid.UUID(live.json()["key"]["id"]),
    )
    assert status == "UPDATE 1"
    assert_problem(await client.get("/api/conversations", headers=bearer(secret)), 401)


async def test_user_key_cannot_act_for_another_user(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    conversation = await new_conversation(client, bob, "bob's")
    response = await client.get(
        f"/api/conversations/{conversation['id']}", headers=alice.headers | {"X-Agentkeep-User": bob.user_id}
    )
    assert_problem(response, 401)
    listing = await client.get(
        "/api/conversations", headers=alice.headers | {"X-Agentkeep-User": bob.user_id}
    )
    assert_problem(listing, 401)
    # Naming itself is fine.
    own = await client.get("/api/conversations", headers=alice.headers | {"X-Agentkeep-User": alice.user_id})
    assert own.status_code == 200


async def test_service_key_must_name_the_user(client: httpx.AsyncClient, service: dict[str, str]) -> None:
    assert_problem(await client.get("/api/conversations", headers=service), 422, field="X-Agentkeep-User")
    assert_problem(
        await client.post("/api/conversations", json={"title": "x"}, headers=service),
        422,
        field="X-Agentkeep-User",
    )
    not_uuid = await client.get("/api/conversations", headers=service | {"X-Agentkeep-User": "alice"})
    assert_problem(not_uuid, 422, field="X-Agentkeep-User")


async def test_service_key_acts_for_the_named_user(
    client: httpx.AsyncClient, service: dict[str, str], alice: Account
) -> None:
    made = await client.post(
        "/api/conversations",
        json={"title": "by service"},
        headers=service | {"X-Agentkeep-User": alice.user_id},
    )
    assert made.status_code == 201
    assert made.json()["user_id"] == alice.user_id
    seen = await client.get(f"/api/conversations/{made.json()['id']}", headers=alice.headers)
    assert seen.status_code == 200
    assert seen.json()["title"] == "by service"


async def test_service_key_creates_users_user_key_cannot(
    client: httpx.AsyncClient, service: dict[str, str], alice: Account
) -> None:
    suffix = uuid.uuid4().hex[:12]
    refused = await client.post(
        "/api/users",
        json={"email": f"nope-{suffix}@example.com", "username": f"n_{suffix}"},
        headers=alice.headers,
    )
    assert_problem(refused, 403)
    created = await client.post(
        "/api/users", json={"email": f"yes-{suffix}@example.com", "username": f"n_{suffix}"}, headers=service
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["email"] == f"yes-{suffix}@example.com"
    assert "password_hash" not in user
    assert uuid.UUID(user["user_id"]).version == 7

    me = await client.get("/api/users/me", headers=alice.headers)
    assert me.status_code == 200
    assert me.json()["user_id"] == alice.user_id


# --- conversations --------------------------------------------------------------------------------


async def test_conversation_crud(client: httpx.AsyncClient, alice: Account) -> None:
    created = await client.post(
        "/api/conversations", json={"title": "first", "metadata": {"topic": "tests"}}, headers=alice.headers
    )
    assert created.status_code == 201
    conversation = created.json()
    assert conversation["title"] == "first"
    assert conversation["version"] == 1
    assert conversation["is_archived"] is False
    assert conversation["user_id"] == alice.user_id
    url = f"/api/conversations/{conversation['id']}"

    got = await client.get(url, headers=alice.headers)
    assert got.status_code == 200
    assert got.json() == conversation

    renamed = await client.patch(url, json={"title": "renamed", "version": 1}, headers=alice.headers)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["title"] == "renamed"
    assert renamed.json()["version"] == 2
    assert renamed.json()["metadata"] == {"topic": "tests"}

    archived = await client.patch(url, json={"is_archived": True, "version": 2}, headers=alice.headers)
    assert archived.status_code == 200
    assert archived.json()["is_archived"] is True
    assert archived.json()["version"] == 3

    live = await client.get("/api/conversations", params={"archived": "false"}, headers=alice.headers)
    only_archived = await client.get("/api/conversations", params={"archived": "true"}, headers=alice.headers)
    assert conversation["id"] not in [c["id"] for c in live.json()["items"]]
    assert [c["id"] for c in only_archived.json()["items"]] == [conversation["id"]]

    unarchived = await client.patch(url, json={"is_archived": False, "version": 3}, headers=alice.headers)
    assert unarchived.json()["is_archived"] is False
    live = await client.get("/api/conversations", headers=alice.headers)
    assert [c["id"] for c in live.json()["items"]] == [conversation["id"]]

    deleted = await client.delete(url, headers=alice.headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_problem(await client.get(url, headers=alice.headers), 404)
    assert_problem(await client.delete(url, headers=alice.headers), 404)
    assert_problem(await client.patch(url, json={"title": "ghost", "version": 4}, headers=alice.headers), 404)
    assert (await client.get("/api/conversations", headers=alice.headers)).json()["items"] == []


async def test_conversation_without_body(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.post("/api/conversations", headers=alice.headers)
    assert response.status_code == 201, response.text
    assert response.json()["title"] is None


async def test_conversations_keyset_pagination(client: httpx.AsyncClient, alice: Account) -> None:
    made = [(await new_conversation(client, alice, f"c{i}"))["id"] for i in range(5)]
    seen: list[str] = []
    pages: list[int] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 2} | ({"before": cursor} if cursor else {})
        response = await client.get("/api/conversations", params=params, headers=alice.headers)
        assert response.status_code == 200
        page = response.json()
        pages.append(len(page["items"]))
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [2, 2, 1]
    assert len(seen) == len(set(seen))
    assert seen == list(reversed(made))  # newest first


async def test_conversations_archived_filter(client: httpx.AsyncClient, alice: Account) -> None:
    live = await new_conversation(client, alice, "live")
    old = await new_conversation(client, alice, "old")
    archived = await client.patch(
        f"/api/conversations/{old['id']}", json={"is_archived": True, "version": 1}, headers=alice.headers
    )
    assert archived.status_code == 200

    async def listed(**params: str) -> list[str]:
        response = await client.get("/api/conversations", params=params, headers=alice.headers)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    assert await listed() == [live["id"]]  # live ones by default
    assert await listed(archived="false") == [live["id"]]
    assert await listed(archived="true") == [old["id"]]
    assert await listed(archived="any") == [old["id"], live["id"]]  # newest first
    assert_problem(
        await client.get("/api/conversations", params={"archived": "maybe"}, headers=alice.headers),
        422,
        field="archived",
    )


# --- messages -------------------------------------------------------------------------------------


async def test_append_single_and_agent_role(client: httpx.AsyncClient, alice: Account) -> None:
    conversation = await new_conversation(client, alice)
    first = await append(client, alice, conversation["id"], "hello", metadata={"n": 1}, token_count=3)
    assert first["role"] == "user"
    assert first["content"] == "hello"
    assert first["conversation_id"] == conversation["id"]
    assert first["user_id"] == alice.user_id
    assert first["metadata"] == {"n": 1}
    reply = await append(
        client, alice, conversation["id"], "hi!", role="agent", parent_message_id=first["id"]
    )
    assert reply["role"] == "assistant"

    stored = await client.get(f"/api/messages/{reply['id']}", headers=alice.headers)
    assert stored.status_code == 200
    assert stored.json()["role"] == "assistant"
    assert stored.json()["parent_message_id"] == first["id"]
    assert stored.json()["content"] == "hi!"


async def test_batch_latest_and_pages(client: httpx.AsyncClient, alice: Account) -> None:
    conversation = await new_conversation(client, alice)
    base = f"/api/conversations/{conversation['id']}/messages"
    batch = [{"role": "user" if i % 2 == 0 else "agent", "content": f"m{i}"} for i in range(7)]
    created = await client.post(f"{base}/batch", json={"messages": batch}, headers=alice.headers)
    assert created.status_code == 201, created.text
    rows = created.json()
    assert [m["content"] for m in rows] == [f"m{i}" for i in range(7)]
    assert {m["role"] for m in rows} == {"user", "assistant"}
    ids = [m["id"] for m in rows]
    assert ids == sorted(ids)

    latest = await client.get(f"{base}/latest", params={"limit": 3}, headers=alice.headers)
    assert latest.status_code == 200
    assert [m["content"] for m in latest.json()] == ["m4", "m5", "m6"]  # last 3, oldest first

    async def walk(order: str) -> list[str]:
        seen: list[str] = []
        cursor: str | None = None
        cursor_name = "before" if order == "desc" else "after"
        for _ in range(10):
            params: dict[str, Any] = {"limit": 3, "order": order} | ({cursor_name: cursor} if cursor else {})
            response = await client.get(base, params=params, headers=alice.headers)
            assert response.status_code == 200, response.text
            page = response.json()
            assert len(page["items"]) <= 3
            seen += [m["content"] for m in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return seen
        raise AssertionError("pagination did not end")

    assert await walk("desc") == [f"m{i}" for i in reversed(range(7))]
    assert await walk("asc") == [f"m{i}" for i in range(7)]

    # A cursor in the wrong direction is a clear 422.
    wrong = await client.get(base, params={"order": "desc", "after": ids[0]}, headers=alice.headers)
    assert_problem(wrong, 422, field="after")


async def test_thread_of_a_reply_chain(client: httpx.AsyncClient, alice: Account) -> None:
    conversation = await new_conversation(client, alice)
    cid = conversation["id"]
    root = await append(client, alice, cid, "root")
    middle = await append(client, alice, cid, "middle", role="assistant", parent_message_id=root["id"])
    leaf = await append(client, alice, cid, "leaf", parent_message_id=middle["id"])
    sibling = await append(client, alice, cid, "sibling", role="assistant", parent_message_id=root["id"])
    unrelated = await append(client, alice, cid, "unrelated")

    thread = await client.get(f"/api/messages/{middle['id']}/thread", headers=alice.headers)
    assert thread.status_code == 200
    assert [m["id"] for m in thread.json()] == [root["id"], middle["id"], leaf["id"]]

    from_root = await client.get(f"/api/messages/{root['id']}/thread", headers=alice.headers)
    assert [m["id"] for m in from_root.json()] == [root["id"], middle["id"], leaf["id"], sibling["id"]]
    assert unrelated["id"] not in [m["id"] for m in from_root.json()]


async def test_delete_message(client: httpx.AsyncClient, alice: Account) -> None:
    conversation = await new_conversation(client, alice)
    keep_it = await append(client, alice, conversation["id"], "keep")
    drop_it = await append(client, alice, conversation["id"], "drop")
    deleted = await client.delete(f"/api/messages/{drop_it['id']}", headers=alice.headers)
    assert deleted.status_code == 204
    assert_problem(await client.get(f"/api/messages/{drop_it['id']}", headers=alice.headers), 404)
    assert_problem(await client.delete(f"/api/messages/{drop_it['id']}", headers=alice.headers), 404)
    assert await message_ids(client, alice, conversation["id"]) == [keep_it["id"]]


async def test_append_to_deleted_conversation_is_404(client: httpx.AsyncClient, alice: Account) -> None:
    conversation = await new_conversation(client, alice)
    assert (
        await client.delete(f"/api/conversations/{conversation['id']}", headers=alice.headers)
    ).status_code == 204
    response = await client.post(
        f"/api/conversations/{conversation['id']}/messages",
        json={"role": "user", "content": "late"},
        headers=alice.headers,
    )
    assert_problem(response, 404)


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
        assert latest.json() == []
    assert await agent_session_ids(client, alice) == []
    assert (await client.get("/api/sessions", headers=alice.headers)).json() == []
    assert [k["id"] for k in (await client.get("/api/keys", headers=alice.headers)).json()] == [alice.key_id]

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
    assert listed.json() == []


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


# --- agent sessions -------------------------------------------------------------------------------


def persona_body(**fields: Any) -> dict[str, Any]:
    return {
        "persona_name": f"persona-{uuid.uuid4().hex[:10]}",
        "persona_version": "1.0",
        "specialization": "testing",
    } | fields


async def test_agent_session_lifecycle(client: httpx.AsyncClient, alice: Account) -> None:
    session = await new_agent_session(client, alice, trust_level=2, max_cost_limit="10")
    assert session["status"] == "initializing"
    assert session["started_at"] is None
    assert session["completed_at"] is None
    url = f"/api/agent-sessions/{session['id']}"

    async def move(status: str) -> dict[str, Any]:
        response = await client.post(f"{url}/status", json={"status": status}, headers=alice.headers)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status
        return response.json()

    await move("pending_approval")
    approved = await move("approved")
    assert approved["started_at"] is None
    running = await move("running")
    assert running["started_at"] is not None
    assert running["completed_at"] is None
    completed = await move("completed")
    assert completed["completed_at"] is not None
    assert completed["started_at"] == running["started_at"]
    assert datetime.fromisoformat(completed["completed_at"]) >= datetime.fromisoformat(
        completed["started_at"]
    )

    # Terminal: nothing follows.
    after_end = await client.post(f"{url}/status", json={"status": "running"}, headers=alice.headers)
    assert_problem(after_end, 409)
    listed = await client.get("/api/agent-sessions", params={"status": "completed"}, headers=alice.headers)
    assert [s["id"] for s in listed.json()["items"]] == [session["id"]]


async def test_invalid_transition_is_409_naming_both_states(
    client: httpx.AsyncClient, alice: Account
) -> None:
    session = await new_agent_session(client, alice)
    url = f"/api/agent-sessions/{session['id']}"
    response = await client.post(f"{url}/status", json={"status": "running"}, headers=alice.headers)
    body = assert_problem(response, 409, field="status")
    assert "initializing" in body["detail"]
    assert "running" in body["detail"]
    current = (await client.get(url, headers=alice.headers)).json()
    assert current["status"] == "initializing"
    assert current["version"] == session["version"]

    unknown = await client.post(f"{url}/status", json={"status": "flying"}, headers=alice.headers)
    assert_problem(unknown, 422, field="status")


async def test_charges_accumulate_and_respect_the_limit(client: httpx.AsyncClient, alice: Account) -> None:
    session = await new_agent_session(client, alice, max_cost_limit="1.00", estimated_cost="0.80")
    url = f"/api/agent-sessions/{session['id']}"
    first = await client.post(f"{url}/charges", json={"amount": "0.25"}, headers=alice.headers)
    second = await client.post(f"{url}/charges", json={"amount": "0.5"}, headers=alice.headers)
    assert first.status_code == second.status_code == 200
    assert float(second.json()["token_cost"]) == pytest.approx(0.75)

    over = await client.post(f"{url}/charges", json={"amount": "0.2501"}, headers=alice.headers)
    assert_problem(over, 409, field="amount")
    current = (await client.get(url, headers=alice.headers)).json()
    assert float(current["token_cost"]) == pytest.approx(0.75)
    assert current["version"] == second.json()["version"]

    exact = await client.post(f"{url}/charges", json={"amount": "0.25"}, headers=alice.headers)
    assert exact.status_code == 200
    assert float(exact.json()["token_cost"]) == pytest.approx(1.0)

    missing = await client.post(
        f"/api/agent-sessions/{uuid.uuid4()}/charges", json={"amount": "1"}, headers=alice.headers
    )
    assert_problem(missing, 404)


async def test_persona_activation_and_deactivation(
    client: httpx.AsyncClient, service: dict[str, str], alice: Account
) -> None:
    persona = await client.post("/api/personas", json=persona_body(priority_level=3), headers=service)
    assert persona.status_code == 201, persona.text
    session = await new_agent_session(client, alice)
    base = f"/api/agent-sessions/{session['id']}/persona-activations"

    activated = await client.post(
        base,
        json={
            "persona_id": persona.json()["id"],
            "activation_trigger": "crisis",
            "activation_context": {"a": 1},
        },
        headers=alice.headers,
    )
    assert activated.status_code == 201, activated.text
    activation = activated.json()
    assert activation["deactivated_at"] is None
    assert activation["agent_session_id"] == session["id"]

    listed = await client.get(base, headers=alice.headers)
    assert [a["id"] for a in listed.json()] == [activation["id"]]

    deactivated = await client.post(
        f"{base}/{activation['id']}/deactivate", json={"results": {"outcome": "calm"}}, headers=alice.headers
    )
    assert deactivated.status_code == 200, deactivated.text
    assert deactivated.json()["deactivated_at"] is not None
    assert deactivated.json()["results"] == {"outcome": "calm"}

    twice = await client.post(f"{base}/{activation['id']}/deactivate", headers=alice.headers)
    assert_problem(twice, 409)

    unknown_persona = await client.post(
        base, json={"persona_id": str(uuid.uuid4()), "activation_trigger": "x"}, headers=alice.headers
    )
    assert 400 <= unknown_persona.status_code < 500
    assert unknown_persona.headers["content-type"].startswith(PROBLEM_JSON)
    assert len((await client.get(base, headers=alice.headers)).json()) == 1


# --- catalogs -------------------------------------------------------------------------------------


async def test_agent_catalog_permissions(
    client: httpx.AsyncClient, service: dict[str, str], alice: Account
) -> None:
    name = f"agent-{uuid.uuid4().hex[:10]}"
    refused = await client.post(
        "/api/agents", json={"name": name, "persona_type": "helper"}, headers=alice.headers
    )
    assert_problem(refused, 403)
    created = await client.post("/api/agents", json={"name": name, "persona_type": "helper"}, headers=service)
    assert created.status_code == 201, created.text
    agent = created.json()

    readable = await client.get("/api/agents", headers=alice.headers)
    assert readable.status_code == 200
    assert [a["name"] for a in readable.json()].count(name) == 1
    one = await client.get(f"/api/agents/{agent['id']}", headers=alice.headers)
    assert one.json()["name"] == name

    duplicate = await client.post(
        "/api/agents", json={"name": name, "persona_type": "other"}, headers=service
    )
    assert_problem(duplicate, 409, field="name")

    by_service = await client.patch(
        f"/api/agents/{agent['id']}", json={"version": 1, "is_active": False}, headers=service
    )
    assert by_service.status_code == 200
    assert by_service.json()["version"] == 2
    assert by_service.json()["is_active"] is False


async def test_user_key_cannot_edit_catalog_rows(
    client: httpx.AsyncClient, service: dict[str, str], alice: Account
) -> None:
    agent = await client.post(
        "/api/agents",
        json={"name": f"agent-{uuid.uuid4().hex[:10]}", "persona_type": "helper"},
        headers=service,
    )
    persona = await client.post("/api/personas", json=persona_body(), headers=service)
    assert agent.status_code == persona.status_code == 201
    agent_edit = await client.patch(
        f"/api/agents/{agent.json()['id']}", json={"version": 1, "is_active": False}, headers=alice.headers
    )
    persona_edit = await client.patch(
        f"/api/personas/{persona.json()['id']}",
        json={"version": 1, "is_active": False},
        headers=alice.headers,
    )
    # Nothing changed either way (the database refused) ...
    assert (await client.get(f"/api/agents/{agent.json()['id']}", headers=alice.headers)).json()[
        "version"
    ] == 1
    assert (await client.get(f"/api/personas/{persona.json()['id']}", headers=alice.headers)).json()[
        "version"
    ] == 1
    # ... but the caller must be told it is not allowed, not that its version is stale.
    assert_problem(agent_edit, 403)
    assert_problem(persona_edit, 403)


async def test_persona_catalog_permissions(
    client: httpx.AsyncClient, service: dict[str, str], alice: Account
) -> None:
    body = persona_body()
    assert_problem(await client.post("/api/personas", json=body, headers=alice.headers), 403)
    too_high = await client.post("/api/personas", json=persona_body(priority_level=11), headers=service)
    assert_problem(too_high, 422, field="priority_level")
    created = await client.post("/api/personas", json=body, headers=service)
    assert created.status_code == 201
    names = [p["persona_name"] for p in (await client.get("/api/personas", headers=alice.headers)).json()]
    assert names.count(body["persona_name"]) == 1
    assert too_high.json()["detail"]


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
    assert session_id not in [s["id"] for s in active.json()]


async def test_session_ttl_below_minimum_is_422(client: httpx.AsyncClient, alice: Account) -> None:
    assert_problem(
        await client.post("/api/sessions", json={"ttl_seconds": 5}, headers=alice.headers),
        422,
        field="ttl_seconds",
    )
    assert (await client.get("/api/sessions", headers=alice.headers)).json() == []


# --- documentation --------------------------------------------------------------------------------


async def test_openapi_and_docs(client: httpx.AsyncClient) -> None:
    spec = await client.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    for path in (
        "/api/users",
        "/api/keys",
        "/api/sessions",
        "/api/sessions/touch",
        "/api/agents",
        "/api/personas",
        "/api/agent-sessions",
        "/api/agent-sessions/{session_id}/status",
        "/api/conversations",
        "/api/conversations/{conversation_id}",
        "/api/conversations/{conversation_id}/messages",
        "/api/conversations/{conversation_id}/messages/batch",
        "/api/conversations/{conversation_id}/messages/latest",
        "/api/messages/{message_id}/thread",
        "/health",
    ):
        assert path in paths, path
    assert {"get", "post"} <= set(paths["/api/conversations"])
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    health = await client.get("/health")
    assert health.json() == {"status": "ok"}


# --- regressions ---------------------------------------------------------------------------------


async def test_deleted_users_key_stops_working(client: httpx.AsyncClient, alice: Account) -> None:
    conversation = await new_conversation(client, alice, "before")
    assert (await client.delete("/api/users/me", headers=alice.headers)).status_code == 204
    assert_problem(await client.get("/api/users/me", headers=alice.headers), 401)
    assert_problem(await client.get(f"/api/conversations/{conversation['id']}", headers=alice.headers), 401)
    assert_problem(
        await client.post("/api/conversations", json={"title": "ghost"}, headers=alice.headers), 401
    )
    assert_problem(await client.post("/api/keys", json={"name": "ghost"}, headers=alice.headers), 401)


async def test_service_key_for_unknown_user_names_the_user(
    client: httpx.AsyncClient, service: dict[str, str]
) -> None:
    response = await client.post(
        "/api/conversations", json={"title": "x"}, headers=service | {"X-Agentkeep-User": str(uuid.uuid4())}
    )
    body = assert_problem(response, 404)
    assert "fk_" not in body["detail"]
    assert {e["field"] for e in body["errors"]} <= {"user_id", "X-Agentkeep-User"}


async def test_deactivate_checks_the_session_in_the_path(
    client: httpx.AsyncClient, service: dict[str, str], alice: Account
) -> None:
    persona = await client.post("/api/personas", json=persona_body(), headers=service)
    session = await new_agent_session(client, alice)
    other = await new_agent_session(client, alice)
    activated = await client.post(
        f"/api/agent-sessions/{session['id']}/persona-activations",
        json={"persona_id": persona.json()["id"], "activation_trigger": "t"},
        headers=alice.headers,
    )
    assert activated.status_code == 201
    wrong = await client.post(
        f"/api/agent-sessions/{other['id']}/persona-activations/{activated.json()['id']}/deactivate",
        headers=alice.headers,
    )
    still = await client.get(
        f"/api/agent-sessions/{session['id']}/persona-activations", headers=alice.headers
    )
    assert still.json()[0]["deactivated_at"] is None
    assert_problem(wrong, 404)


async def test_openapi_documents_the_problem_body_of_errors(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert set(spec["components"]["schemas"]["Problem"]["properties"]) >= {
        "type",
        "title",
        "status",
        "detail",
    }
    responses = spec["paths"]["/api/conversations/{conversation_id}"]["get"]["responses"]
    for status in ("401", "404", "422"):
        assert responses[status]["content"]["application/problem+json"]["schema"] == {
            "$ref": "#/components/schemas/Problem"
        }


async def test_an_unreachable_database_is_a_503_problem(keep: Keep) -> None:
    """The API over a database that is down answers with a problem, not a bare 500 page."""
    down = DatabaseUrls(
        owner=keep.database.urls.owner.set(host="127.0.0.1", port=9, query={}),
        app=keep.database.urls.app.set(host="127.0.0.1", port=9, query={}),
    )
    database = Database.from_urls(down)
    app = create_app(keep=Keep(database, keep.settings))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://agentkeep.test") as http:
        response = await http.get("/api/agents", headers={"Authorization": "Bearer aks_whatever"})
    await database.close()
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 503

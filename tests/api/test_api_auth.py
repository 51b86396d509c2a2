"""The REST API's authentication: keys, service keys acting for a user, deleted users."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from support import (
    Account,
    as_owner_for,
    assert_problem,
    bearer,
    new_conversation,
)

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
    assert listed.json()["next_cursor"] is None
    assert {k["id"] for k in listed.json()["items"]} == {alice.key_id, second["key"]["id"]}
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

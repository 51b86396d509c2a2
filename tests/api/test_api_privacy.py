"""Export and erasure over HTTP: your own through /api/users/me, anyone's through the operator
routes; a missing confirmation or user is a problem body naming the field, never a 500."""

from __future__ import annotations

import uuid

import httpx
import pytest
from support import Account, assert_problem, bearer

from agentkeep.keep import Keep


@pytest.fixture
async def operator(keep: Keep) -> dict[str, str]:
    created = await keep.access_keys.create_operator_key("privacy api tests")
    return bearer(created.secret)


async def test_you_export_yourself_and_only_yourself(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    made = await client.post("/api/conversations", json={"title": "alice's diary"}, headers=alice.headers)
    assert made.status_code == 201, made.text
    await client.post("/api/conversations", json={"title": "bob's diary"}, headers=bob.headers)
    response = await client.get("/api/users/me/export", headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert document["user_id"] == alice.user_id
    assert [row["title"] for row in document["tables"]["conversations"]] == ["alice's diary"]
    assert "bob's diary" not in response.text and bob.user_id not in response.text
    assert document["audit_trail"], "the trail of the user is part of it"


async def test_erasing_yourself_needs_confirm_then_your_key_is_gone(
    client: httpx.AsyncClient, alice: Account
) -> None:
    refused = await client.post("/api/users/me/erase", headers=alice.headers)
    assert_problem(refused, 422, field="confirm")
    assert (await client.get("/api/users/me", headers=alice.headers)).status_code == 200
    erased = await client.post("/api/users/me/erase", params={"confirm": "true"}, headers=alice.headers)
    assert erased.status_code == 200, erased.text
    report = erased.json()
    assert report["user_id"] == alice.user_id and report["rows_deleted"]["users"] == 1
    assert report["rows_deleted"]["api_keys"] >= 1
    after = await client.get("/api/users/me", headers=alice.headers)
    assert after.status_code == 401


async def test_operators_export_and_erase_anyone_users_cannot(
    client: httpx.AsyncClient, operator: dict[str, str], alice: Account, bob: Account
) -> None:
    forbidden = await client.get(f"/api/operator/users/{bob.user_id}/export", headers=alice.headers)
    assert forbidden.status_code == 403
    exported = await client.get(f"/api/operator/users/{bob.user_id}/export", headers=operator)
    assert exported.status_code == 200 and exported.json()["user_id"] == bob.user_id
    unknown = await client.get(f"/api/operator/users/{uuid.uuid4()}/export", headers=operator)
    assert_problem(unknown, 404, field="user_id")
    bad = await client.post(
        "/api/operator/users/not-a-uuid/erase", params={"confirm": "true"}, headers=operator
    )
    assert_problem(bad, 422, field="user_id")
    erased = await client.post(
        f"/api/operator/users/{bob.user_id}/erase", params={"confirm": "true"}, headers=operator
    )
    assert erased.status_code == 200 and erased.json()["rows_deleted"]["users"] == 1
    again = await client.post(
        f"/api/operator/users/{bob.user_id}/erase", params={"confirm": "true"}, headers=operator
    )
    assert_problem(again, 404, field="user_id")
    assert (await client.get("/api/users/me", headers=alice.headers)).status_code == 200

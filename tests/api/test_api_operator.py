"""/api/operator: operator keys only. User and service keys get a 403 problem body; an operator
key gets every user's activity summary, paginated, and is refused on the user routes."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from support import Account, assert_problem, bearer

from agentkeep.keep import Keep

USER_ACTIVITY = "/api/operator/user-activity"


@pytest.fixture
async def operator(keep: Keep) -> dict[str, str]:
    created = await keep.access_keys.create_operator_key("api tests")
    return bearer(created.secret)


async def _all_pages(client: httpx.AsyncClient, headers: dict[str, str], limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        response = await client.get(USER_ACTIVITY, params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        if page["next_cursor"] is None:
            return items
        params["before"] = page["next_cursor"]


async def test_operator_key_reads_every_users_summary(
    client: httpx.AsyncClient, operator: dict[str, str], alice: Account, bob: Account
) -> None:
    whole = await client.get(USER_ACTIVITY, params={"limit": 200}, headers=operator)
    assert whole.status_code == 200, whole.text
    paged = await _all_pages(client, operator, limit=3)
    ids = [item["user_id"] for item in paged]
    assert len(ids) == len(set(ids)), "a user appeared on two pages"
    assert ids == sorted(ids, reverse=True), "newest user first"
    assert {alice.user_id, bob.user_id} <= set(ids)
    if whole.json()["next_cursor"] is None:
        assert paged == whole.json()["items"]
    for item in paged:
        if item["user_id"] in (alice.user_id, bob.user_id):
            # Made through the API, no agent session yet: the seed's LEFT JOIN gives 0 and NULLs.
            assert (item["total_sessions"], item["total_cost"], item["last_session_at"]) == (0, None, None)


@pytest.mark.parametrize("who", ["user", "service", "service for a user"])
async def test_user_and_service_keys_are_forbidden(
    client: httpx.AsyncClient, alice: Account, service: dict[str, str], who: str
) -> None:
    headers = {
        "user": alice.headers,
        "service": service,
        "service for a user": service | {"X-Agentkeep-User": alice.user_id},
    }[who]
    body = assert_problem(await client.get(USER_ACTIVITY, headers=headers), 403)
    assert "operator key" in body["detail"]


async def test_missing_revoked_and_misused_operator_keys(
    client: httpx.AsyncClient, keep: Keep, operator: dict[str, str]
) -> None:
    assert_problem(await client.get(USER_ACTIVITY), 401)
    assert_problem(await client.get(USER_ACTIVITY, headers=bearer("ako_not-a-key")), 401)
    created = await keep.access_keys.create_operator_key("to revoke")
    await keep.access_keys.revoke_operator_key(created.key.id)
    assert_problem(await client.get(USER_ACTIVITY, headers=bearer(created.secret)), 401)
    # An operator acts for no user: naming one is refused, and the user routes are not its.
    named = operator | {"X-Agentkeep-User": str(uuid.uuid4())}
    assert_problem(await client.get(USER_ACTIVITY, headers=named), 422, field="X-Agentkeep-User")
    body = assert_problem(await client.get("/api/conversations", headers=operator), 403)
    assert "/api/operator" in body["detail"]
    assert_problem(await client.get(USER_ACTIVITY, params={"limit": 0}, headers=operator), 422, field="limit")
    assert_problem(
        await client.get(USER_ACTIVITY, params={"before": "x"}, headers=operator), 422, field="before"
    )


async def test_no_route_makes_an_operator_key(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    operator_routes = {
        (path, method)
        for path, item in schema["paths"].items()
        if path.startswith("/api/operator")
        for method in item
    }
    assert operator_routes == {
        (USER_ACTIVITY, "get"),
        ("/api/operator/audit/verify", "get"),
        ("/api/operator/audit/head", "get"),
        ("/api/operator/audit/redact/{user_id}", "post"),
        ("/api/operator/agents/{agent_id}/emergency-stop", "post"),  # revision 0012 (docs/governance.md)
    }
    assert not [path for path in schema["paths"] if "operator-key" in path or "operator_key" in path]

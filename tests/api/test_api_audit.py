"""GET /api/audit: the caller's own trail, newest first, paged; the request's correlation id lands
in the entries its writes made."""

from __future__ import annotations

import httpx
from support import Account, assert_problem, new_conversation


async def test_correlation_id_from_the_header_lands_in_the_entry(
    client: httpx.AsyncClient, alice: Account
) -> None:
    response = await client.post(
        "/api/conversations",
        json={"title": "traced"},
        headers=alice.headers | {"X-Correlation-Id": "trace-42.a_b"},
    )
    assert response.status_code == 201, response.text
    trail = (await client.get("/api/audit", params={"limit": 5}, headers=alice.headers)).json()
    newest = trail["items"][0]
    assert (newest["table_name"], newest["operation"]) == ("conversations", "INSERT")
    assert newest["correlation_id"] == "trace-42.a_b"
    assert newest["new_values"]["title"] == "traced"
    assert newest["actor"] == "user" and newest["acting_user_id"] == alice.user_id


async def test_trail_is_own_newest_first_and_paged(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    for number in range(3):
        await new_conversation(client, alice, title=f"page {number}")
    await new_conversation(client, bob, title="bob's")
    first = (await client.get("/api/audit", params={"limit": 2}, headers=alice.headers)).json()
    assert [item["seq"] for item in first["items"]] == sorted(
        (item["seq"] for item in first["items"]), reverse=True
    )
    assert first["next_cursor"] == first["items"][-1]["seq"]
    second = (
        await client.get(
            "/api/audit", params={"limit": 2, "before": first["next_cursor"]}, headers=alice.headers
        )
    ).json()
    assert all(item["seq"] < first["next_cursor"] for item in second["items"])
    seen = first["items"] + second["items"]
    assert {item["user_id"] for item in seen} == {alice.user_id}
    assert "bob's" not in str(seen)


async def test_bad_cursor_and_limit_name_the_field(client: httpx.AsyncClient, alice: Account) -> None:
    assert_problem(
        await client.get("/api/audit", params={"before": "x"}, headers=alice.headers),
        422,
        field_contains="before",
    )
    assert_problem(
        await client.get("/api/audit", params={"limit": 0}, headers=alice.headers),
        422,
        field_contains="limit",
    )
    assert (await client.get("/api/audit")).status_code == 401

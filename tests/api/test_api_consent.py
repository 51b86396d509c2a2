"""The REST API's consent tiers, consent logs, agent activities and ethical validations."""

from __future__ import annotations

import httpx
from support import Account, assert_problem


async def test_consent_tiers_and_their_log(client: httpx.AsyncClient, alice: Account) -> None:
    tiers = await client.get("/api/consent/tiers", headers=alice.headers)
    assert [(t["scope"], t["tier_level"]) for t in tiers.json()] == [("global", "passive")]
    changed = await client.put(
        "/api/consent/tiers/global", json={"tier_level": "active", "reason": "fine"}, headers=alice.headers
    )
    assert changed.status_code == 200 and changed.json()["tier_level"] == "active"
    logs = (await client.get("/api/consent/logs?scope=global", headers=alice.headers)).json()["items"]
    assert [(log["previous_value"], log["new_value"], log["reason"]) for log in logs] == [
        ("passive", "active", "fine"),
        (None, "passive", None),
    ]
    legal = await client.post(
        "/api/consent/logs", json={"action": "approved", "scope": "legal"}, headers=alice.headers
    )
    assert legal.status_code == 201


async def test_bad_consent_input_is_a_4xx_naming_the_field(client: httpx.AsyncClient, alice: Account) -> None:
    assert_problem(
        await client.put("/api/consent/tiers/global", json={"tier_level": "total"}, headers=alice.headers),
        422,
        field_contains="tier_level",
    )
    assert_problem(
        await client.put(
            "/api/consent/tiers/gardening", json={"tier_level": "active"}, headers=alice.headers
        ),
        422,
        field="scope",
    )
    assert_problem(
        await client.post(
            "/api/consent/logs", json={"action": "tier_changed", "scope": "x"}, headers=alice.headers
        ),
        422,
        field_contains="action",
    )
    tiers = (await client.get("/api/consent/tiers", headers=alice.headers)).json()
    assert [(t["scope"], t["tier_level"]) for t in tiers] == [("global", "passive")]


async def test_activity_lifecycle_and_refusals(client: httpx.AsyncClient, alice: Account) -> None:
    body = {"agent_name": "FELLO", "activity_type": "suggestion", "title": "call your sister"}
    proposed = await client.post("/api/activities", json=body, headers=alice.headers)
    assert proposed.status_code == 201 and proposed.json()["status"] == "pending_consent"
    url = f"/api/activities/{proposed.json()['id']}"
    waiting = (await client.get("/api/activities?status=pending_consent", headers=alice.headers)).json()
    assert [item["id"] for item in waiting["items"]] == [proposed.json()["id"]]
    # Executing what the user has not approved: 409 naming the status.
    assert_problem(await client.post(f"{url}/execute", headers=alice.headers), 409, field="status")
    approved = await client.post(f"{url}/approve", json={"reason": "good idea"}, headers=alice.headers)
    assert approved.json()["status"] == "approved"
    assert_problem(await client.post(f"{url}/reject", headers=alice.headers), 409, field="status")
    blocked = await client.post(
        "/api/ethical-validations",
        json={"result": "blocked", "agent_activity_id": proposed.json()["id"], "concerns": ["privacy"]},
        headers=alice.headers,
    )
    assert blocked.status_code == 201
    refused = assert_problem(await client.post(f"{url}/execute", headers=alice.headers), 409, field="status")
    assert "blocked by an ethical validation" in refused["detail"]
    assert_problem(
        await client.post(f"/api/ethical-validations/{blocked.json()['id']}/override", headers=alice.headers),
        409,
    )
    failed = await client.post(f"{url}/fail", json={"result": {"why": "blocked"}}, headers=alice.headers)
    assert failed.json()["status"] == "failed"


async def test_bad_activity_input_is_a_4xx_naming_the_field(
    client: httpx.AsyncClient, alice: Account
) -> None:
    base = {"agent_name": "FELLO", "activity_type": "analysis", "title": "t"}
    for changes, field in (
        ({"activity_type": "gossip"}, "activity_type"),
        ({"scope": "gardening"}, "scope"),
        ({"trust_level_required": 9}, "trust_level_required"),
        ({"consent_tier_required": "total"}, "consent_tier_required"),
        ({"title": ""}, "title"),
    ):
        response = await client.post("/api/activities", json=base | changes, headers=alice.headers)
        assert_problem(response, 422, field_contains=field)
    assert (await client.get("/api/activities", headers=alice.headers)).json()["items"] == []


async def test_another_users_activities_and_logs_are_unreachable(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    body = {"agent_name": "FELLO", "activity_type": "suggestion", "title": "t"}
    mine = (await client.post("/api/activities", json=body, headers=alice.headers)).json()
    url = f"/api/activities/{mine['id']}"
    assert_problem(await client.get(url, headers=bob.headers), 404)
    assert_problem(await client.post(f"{url}/approve", headers=bob.headers), 404)
    assert (await client.get("/api/activities", headers=bob.headers)).json()["items"] == []
    logs = (await client.get(f"/api/consent/logs?activity_id={mine['id']}", headers=bob.headers)).json()
    assert logs["items"] == []
    assert_problem(
        await client.post(
            "/api/ethical-validations",
            json={"result": "blocked", "agent_activity_id": mine["id"]},
            headers=bob.headers,
        ),
        404,
    )
    assert (await client.get(url, headers=alice.headers)).json()["status"] == "pending_consent"

"""The REST API's decisions (/api/decisions), onboarding answers
(/api/agent-sessions/{id}/onboarding) and carried context (carry_context_from)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from support import Account, assert_problem, new_agent_session


async def _decide(client: httpx.AsyncClient, who: Account, **fields: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/decisions", json={"decision_type": "buy"} | fields, headers=who.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_get_list_and_feedback(client: httpx.AsyncClient, alice: Account) -> None:
    session = await new_agent_session(client, alice, agent_type="kai")
    made = await _decide(
        client,
        alice,
        agent_session_id=session["id"],
        subject="NVDA",
        decision_card={"verdict": "buy"},
        rationale="strong quarter",
        confidence_score="0.85",
        execution_time_ms=120,
    )
    assert (made["subject"], made["confidence_score"], made["rationale"]) == (
        "NVDA",
        "0.85",
        "strong quarter",
    )
    assert made["encrypted_fields"] == ["decision_rationale"]
    url = f"/api/decisions/{made['id']}"
    assert (await client.get(url, headers=alice.headers)).json() == made

    older = await _decide(client, alice, subject="AAPL", decision_type="hold")
    newest = await _decide(client, alice, subject="NVDA", decision_type="reduce")
    page = (await client.get("/api/decisions", params={"limit": 2}, headers=alice.headers)).json()
    assert [item["id"] for item in page["items"]] == [newest["id"], older["id"]]
    rest = await client.get("/api/decisions", params={"before": page["next_cursor"]}, headers=alice.headers)
    assert [item["id"] for item in rest.json()["items"]] == [made["id"]]
    nvda = await client.get("/api/decisions", params={"subject": "NVDA"}, headers=alice.headers)
    assert [item["id"] for item in nvda.json()["items"]] == [newest["id"], made["id"]]
    holds = await client.get("/api/decisions", params={"decision_type": "hold"}, headers=alice.headers)
    assert [item["id"] for item in holds.json()["items"]] == [older["id"]]
    of_session = await client.get(
        "/api/decisions", params={"agent_session_id": session["id"]}, headers=alice.headers
    )
    assert [item["id"] for item in of_session.json()["items"]] == [made["id"]]

    given = await client.post(
        f"{url}/feedback", json={"user_feedback": "approved", "version": 1}, headers=alice.headers
    )
    assert given.status_code == 200, given.text
    body = given.json()
    assert (body["user_feedback"], body["feedback_by"], body["version"]) == ("approved", "user", 2)
    assert body["feedback_at"] is not None
    stale = await client.post(
        f"{url}/feedback", json={"user_feedback": "rejected", "version": 1}, headers=alice.headers
    )
    assert_problem(stale, 409, field="version")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"decision_type": "buy", "confidence_score": 1.5}, "confidence_score"),
        ({"decision_type": "buy", "confidence_score": "0.123"}, "confidence_score"),
        ({"decision_type": "buy", "execution_time_ms": -1}, "execution_time_ms"),
        ({"decision_type": "sell"}, "decision_type"),
        ({"decision_type": "buy", "agent_session_id": "not-a-uuid"}, "agent_session_id"),
        (
            {"decision_type": "buy", "agent_session_id": "01a20972-221a-7257-b444-491cb94bd414"},
            "agent_session_id",
        ),
        ({"decision_type": "buy", "rationale": "nul \u0000 byte"}, "rationale"),
        ({}, "decision_type"),
    ],
)
async def test_bad_decisions_are_4xx_naming_the_field(
    client: httpx.AsyncClient, alice: Account, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/api/decisions", json=body, headers=alice.headers)
    assert 400 <= response.status_code < 500
    assert_problem(response, response.status_code, field=field)
    assert (await client.get("/api/decisions", headers=alice.headers)).json()["items"] == []


async def test_bad_feedback_and_filters_are_4xx(client: httpx.AsyncClient, alice: Account) -> None:
    made = await _decide(client, alice)
    url = f"/api/decisions/{made['id']}/feedback"
    assert_problem(
        await client.post(url, json={"user_feedback": "maybe"}, headers=alice.headers),
        422,
        field="user_feedback",
    )
    assert_problem(await client.post(url, json={}, headers=alice.headers), 422, field="user_feedback")
    listed = await client.get("/api/decisions", params={"limit": 0}, headers=alice.headers)
    assert_problem(listed, 422, field="limit")
    assert (await client.get(f"/api/decisions/{made['id']}", headers=alice.headers)).json()["version"] == 1


async def test_another_users_decisions_are_not_found(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    hers = await _decide(client, alice, subject="AMD")
    url = f"/api/decisions/{hers['id']}"
    assert_problem(await client.get(url, headers=bob.headers), 404)
    assert_problem(
        await client.post(f"{url}/feedback", json={"user_feedback": "rejected"}, headers=bob.headers), 404
    )
    assert (await client.get("/api/decisions", params={"subject": "AMD"}, headers=bob.headers)).json()[
        "items"
    ] == []
    assert (await client.get(url, headers=alice.headers)).json()["user_feedback"] is None


async def test_onboarding_answers(client: httpx.AsyncClient, alice: Account, bob: Account) -> None:
    session = await new_agent_session(client, alice, agent_type="kai")
    url = f"/api/agent-sessions/{session['id']}/onboarding"
    assert_problem(await client.get(url, headers=alice.headers), 404)
    assert_problem(
        await client.patch(url, json={"processing_mode": "cloud"}, headers=alice.headers),
        422,
        field="processing_mode",
    )
    assert_problem(
        await client.patch(url, json={"risk_profile": "yolo"}, headers=alice.headers),
        422,
        field="risk_profile",
    )
    assert_problem(
        await client.patch(url, json={"is_onboarding_complete": True}, headers=alice.headers),
        422,
        field="is_onboarding_complete",
    )
    assert_problem(await client.patch(url, json={"is_legal_acknowledged": None}, headers=alice.headers), 422)
    answered = await client.patch(
        url,
        json={"processing_mode": "hybrid", "risk_profile": "conservative", "is_legal_acknowledged": True},
        headers=alice.headers,
    )
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert (body["legal_acknowledged_by"], body["version"]) == ("user", 1)
    assert body["legal_acknowledged_at"] is not None
    done = await client.patch(url, json={"is_onboarding_complete": True, "version": 1}, headers=alice.headers)
    assert done.json()["is_onboarding_complete"] is True
    assert (await client.get(url, headers=alice.headers)).json() == done.json()
    # Bob reaches neither the answers nor (so) the session.
    assert_problem(await client.get(url, headers=bob.headers), 404)
    assert_problem(await client.patch(url, json={"risk_profile": "balanced"}, headers=bob.headers), 404)


async def test_a_session_carries_the_context_of_a_named_earlier_one(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    earlier = await new_agent_session(client, alice, context={"portfolio": ["NVDA"], "tone": "brief"})
    later = await new_agent_session(
        client, alice, context={"tone": "detailed"}, carry_context_from=earlier["id"]
    )
    assert later["context"] == {"portfolio": ["NVDA"], "tone": "detailed"}
    refused = await client.post(
        "/api/agent-sessions",
        json={"agent_type": "assistant", "carry_context_from": earlier["id"]},
        headers=bob.headers,
    )
    assert_problem(refused, 404, field="carry_context_from")

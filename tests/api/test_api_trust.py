"""The REST API's trust (/api/trust/{agent_id}): level, history, metrics and demotion, earned
through /api/decisions feedback; tenancy; bad input names the field."""

from __future__ import annotations

import uuid

import httpx
from support import Account, assert_problem, new_agent_session


async def _agent(client: httpx.AsyncClient, service: dict[str, str]) -> str:
    response = await client.post(
        "/api/agents",
        json={"name": f"trust-{uuid.uuid4().hex[:10]}", "persona_type": "developer"},
        headers=service,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _approved(client: httpx.AsyncClient, who: Account, session_id: str) -> None:
    made = await client.post(
        "/api/decisions",
        json={"decision_type": "review", "agent_session_id": session_id},
        headers=who.headers,
    )
    given = await client.post(
        f"/api/decisions/{made.json()['id']}/feedback",
        json={"user_feedback": "approved"},
        headers=who.headers,
    )
    assert given.status_code == 200, given.text


async def test_trust_is_earned_through_feedback_and_shown_per_user(
    client: httpx.AsyncClient, alice: Account, bob: Account, service: dict[str, str]
) -> None:
    agent_id = await _agent(client, service)
    session = await new_agent_session(client, alice, agent_type="developer", agent_id=agent_id)
    for _ in range(5):
        await _approved(client, alice, session["id"])
    shown = (await client.get(f"/api/trust/{agent_id}", headers=alice.headers)).json()
    assert (shown["level"], shown["approved"], shown["has_record"]) == (1, 5, True)
    history = (await client.get(f"/api/trust/{agent_id}/history", headers=alice.headers)).json()
    assert [(c["from_level"], c["to_level"], c["rule"]) for c in history["items"]] == [(0, 1, "promotion")]
    metrics = await client.get(
        f"/api/trust/{agent_id}/metrics",
        params={"metric_type": "autonomy", "limit": 2},
        headers=alice.headers,
    )
    assert [m["metric_value"] for m in metrics.json()] == ["25.00", "20.00"]
    session_now = await client.get(f"/api/agent-sessions/{session['id']}", headers=alice.headers)
    assert session_now.json()["trust_level"] == 1
    # Bob has no trust record with the agent, and cannot see Alice's.
    theirs = (await client.get(f"/api/trust/{agent_id}", headers=bob.headers)).json()
    assert (theirs["level"], theirs["has_record"]) == (0, False)
    assert (await client.get(f"/api/trust/{agent_id}/metrics", headers=bob.headers)).json() == []

    demoted = await client.post(
        f"/api/trust/{agent_id}/demote", json={"reason": "ethical validation blocked"}, headers=alice.headers
    )
    assert demoted.status_code == 200, demoted.text
    assert demoted.json()["level"] == 0


async def test_bad_input_is_a_problem_naming_the_field(
    client: httpx.AsyncClient, alice: Account, service: dict[str, str]
) -> None:
    agent_id = await _agent(client, service)
    assert_problem(await client.get("/api/trust/not-a-uuid", headers=alice.headers), 422, field="agent_id")
    assert_problem(
        await client.get(f"/api/trust/{uuid.uuid4()}", headers=alice.headers), 404, field="agent_id"
    )
    assert_problem(
        await client.get(f"/api/trust/{agent_id}/history", params={"limit": 0}, headers=alice.headers),
        422,
        field="limit",
    )
    assert_problem(
        await client.post(f"/api/trust/{agent_id}/demote", json={"reason": ""}, headers=alice.headers),
        422,
        field="reason",
    )
    assert_problem(
        await client.post(
            f"/api/trust/{agent_id}/demote", json={"reason": "x", "rule": "promotion"}, headers=alice.headers
        ),
        422,
        field="rule",
    )
    shown = (await client.get(f"/api/trust/{agent_id}", headers=alice.headers)).json()
    assert shown["has_record"] is False  # nothing stored changed

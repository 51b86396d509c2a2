"""The REST API's agent sessions, persona activations and the agent and persona catalogs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from support import (
    PROBLEM_JSON,
    Account,
    assert_problem,
    new_agent_session,
    persona_body,
)

# --- agent sessions -------------------------------------------------------------------------------


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

    exact = await client.post(f"{url}/charges", json={"amount": "0.25"}, headers=alice.headers)
    assert exact.status_code == 200
    assert float(exact.json()["token_cost"]) == pytest.approx(1.0)

    # Passing the limit blocks the session, keeping the cost (revision 0012's cost gate).
    over = await client.post(f"{url}/charges", json={"amount": "0.0001"}, headers=alice.headers)
    assert over.status_code == 200
    assert (over.json()["status"], float(over.json()["token_cost"])) == ("blocked", pytest.approx(1.0001))
    after = await client.post(f"{url}/charges", json={"amount": "0.1"}, headers=alice.headers)
    assert_problem(after, 409, field="amount")

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
    assert [a["id"] for a in listed.json()["items"]] == [activation["id"]]

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
    assert len((await client.get(base, headers=alice.headers)).json()["items"]) == 1


# --- catalogs -------------------------------------------------------------------------------------


async def test_agent_catalog_permissions(
    client: httpx.AsyncClient, service: dict[str, str], alice: Account
) -> None:
    name = f"agent-{uuid.uuid4().hex[:10]}"
    refused = await client.post(
        "/api/agents", json={"name": name, "persona_type": "assistant"}, headers=alice.headers
    )
    assert_problem(refused, 403)
    created = await client.post(
        "/api/agents", json={"name": name, "persona_type": "assistant"}, headers=service
    )
    assert created.status_code == 201, created.text
    agent = created.json()

    readable = await client.get("/api/agents", headers=alice.headers)
    assert readable.status_code == 200
    assert [a["name"] for a in readable.json()["items"]].count(name) == 1
    one = await client.get(f"/api/agents/{agent['id']}", headers=alice.headers)
    assert one.json()["name"] == name

    duplicate = await client.post("/api/agents", json={"name": name, "persona_type": "qa"}, headers=service)
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
        json={"name": f"agent-{uuid.uuid4().hex[:10]}", "persona_type": "assistant"},
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
    listed = (await client.get("/api/personas", headers=alice.headers)).json()
    names = [p["persona_name"] for p in listed["items"]]
    assert names.count(body["persona_name"]) == 1
    assert too_high.json()["detail"]


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
    assert still.json()["items"][0]["deactivated_at"] is None
    assert_problem(wrong, 404)

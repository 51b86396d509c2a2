"""Hostile input found by probing the running API after issue 5: each is a 4xx naming the field.

- a time whose UTC value falls outside the years 1 to 9999 (the driver cannot convert it);
- JSON nested so deep (about 1,000 levels) that the JSON parser itself gives up;
- another user's (or an unknown) agent session behind the activations list.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from support import Account, assert_problem

from agentkeep.api.app import create_app
from agentkeep.keep import Keep


@pytest.fixture
async def raw_client(keep: Keep) -> AsyncIterator[httpx.AsyncClient]:
    """Answers of the app as a client sees them, even if a handler raised."""
    transport = httpx.ASGITransport(app=create_app(keep=keep), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://agentkeep.test") as http:
        yield http


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
async def test_a_time_outside_the_utc_range_is_refused_naming_it(
    raw_client: httpx.AsyncClient, alice: Account, moment: str
) -> None:
    before = (await raw_client.get("/api/agent-sessions", headers=alice.headers)).json()["items"]
    started = await raw_client.post(
        "/api/agent-sessions", json={"agent_type": "assistant", "expires_at": moment}, headers=alice.headers
    )
    assert_problem(started, 422, field="expires_at")
    key = await raw_client.post("/api/keys", json={"name": "k", "expires_at": moment}, headers=alice.headers)
    assert_problem(key, 422, field="expires_at")
    after = (await raw_client.get("/api/agent-sessions", headers=alice.headers)).json()["items"]
    assert after == before
    # The edges that are in range are kept.
    edge = await raw_client.post(
        "/api/agent-sessions",
        json={"agent_type": "assistant", "expires_at": "9999-12-31T23:59:59+14:00"},
        headers=alice.headers,
    )
    assert edge.status_code == 201, edge.text
    assert edge.json()["expires_at"].startswith("9999-12-31T09:59:59")


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("depth", [1_000, 5_000])
async def test_json_too_deep_for_the_parser_is_refused_naming_the_field(
    raw_client: httpx.AsyncClient, alice: Account, depth: int
) -> None:
    json_headers = alice.headers | {"content-type": "application/json"}
    before = (await raw_client.get("/api/conversations", headers=alice.headers)).json()["items"]
    body = '{"title": "a \\" { [ , tricky", "metadata": {"m": ' + _nested(depth) + "}}"
    created = await raw_client.post("/api/conversations", content=body.encode(), headers=json_headers)
    assert_problem(created, 422, field="metadata")
    arrays = '{"agent_type": "assistant", "personas_active": ' + "[" * depth + "]" * depth + "}"
    started = await raw_client.post("/api/agent-sessions", content=arrays.encode(), headers=json_headers)
    assert_problem(started, 422, field="personas_active")
    top = await raw_client.post("/api/conversations", content=("[" * depth).encode(), headers=json_headers)
    assert 400 <= top.status_code < 500 and top.status_code != 404, top.text
    after = (await raw_client.get("/api/conversations", headers=alice.headers)).json()["items"]
    assert after == before


async def test_activations_of_another_users_or_an_unknown_session_are_404(
    raw_client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    started = await raw_client.post(
        "/api/agent-sessions", json={"agent_type": "assistant"}, headers=alice.headers
    )
    assert started.status_code == 201, started.text
    session_id = started.json()["id"]
    own = await raw_client.get(f"/api/agent-sessions/{session_id}/persona-activations", headers=alice.headers)
    assert own.status_code == 200 and own.json()["items"] == []
    for who, session in [(bob, session_id), (alice, str(uuid.uuid4()))]:
        url = f"/api/agent-sessions/{session}/persona-activations"
        listed = await raw_client.get(url, headers=who.headers)
        assert_problem(listed, 404)

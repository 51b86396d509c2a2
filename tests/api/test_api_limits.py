"""The input limits over HTTP: what is accepted reads back, what could not is refused unwritten.

Also: error fields name the input (not pydantic's union internals), a bad stored catalog row
cannot break the catalog lists, 204s carry no content type and the 413 is serialised like
every other problem.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from support import MAX_BODY, Account, assert_problem, new_agent_session, new_conversation

from agentkeep.database.engine import principal_settings
from agentkeep.models import MAX_JSON_DEPTH
from agentkeep.principal import Principal


def deep(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"a": value}
    return value


async def test_json_at_the_depth_limit_is_stored_and_read_back(
    client: httpx.AsyncClient, service: dict[str, str], alice: Account
) -> None:
    at_limit = deep(MAX_JSON_DEPTH)
    conversation = await new_conversation(client, alice)
    base = f"/api/conversations/{conversation['id']}/messages"
    sent = await client.post(
        base, json={"role": "user", "content": "x", "metadata": at_limit}, headers=alice.headers
    )
    assert sent.status_code == 201, sent.text
    listed = await client.get(base, headers=alice.headers)
    assert listed.json()["items"][0]["metadata"] == at_limit

    agent = await client.post(
        "/api/agents",
        json={"name": f"deep-{uuid.uuid4().hex[:8]}", "persona_type": "assistant", "config": at_limit},
        headers=service,
    )
    assert agent.status_code == 201, agent.text
    catalog = await client.get("/api/agents", headers=alice.headers)
    assert catalog.status_code == 200
    assert [a["config"] for a in catalog.json()["items"] if a["id"] == agent.json()["id"]] == [at_limit]

    too_deep = await client.post(
        base,
        json={"role": "user", "content": "x", "metadata": deep(MAX_JSON_DEPTH + 1)},
        headers=alice.headers,
    )
    body = assert_problem(too_deep, 422, field="metadata")
    assert str(MAX_JSON_DEPTH) in body["errors"][0]["message"]
    assert len((await client.get(base, headers=alice.headers)).json()["items"]) == 1


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ('{"k": NaN}', "nan"),
        ('{"k": Infinity}', "inf"),
        ('{"k": "\\ud800"}', "surrogate"),
        ('{"\\u0000": 1}', "NUL"),
    ],
)
async def test_json_that_postgres_cannot_store_names_the_field(
    client: httpx.AsyncClient, alice: Account, raw: str, says: str
) -> None:
    conversation = await new_conversation(client, alice)
    response = await client.post(
        f"/api/conversations/{conversation['id']}/messages",
        content=f'{{"role": "user", "content": "x", "metadata": {raw}}}'.encode(),
        headers=alice.headers | {"content-type": "application/json"},
    )
    body = assert_problem(response, 422, field="metadata")
    assert says in body["errors"][0]["message"]


async def test_union_fields_are_named_without_pydantic_internals(
    client: httpx.AsyncClient, alice: Account
) -> None:
    bad_ip = await client.post("/api/sessions", json={"ip_address": "not-an-ip"}, headers=alice.headers)
    body = assert_problem(bad_ip, 422)
    assert [error["field"] for error in body["errors"]] == ["ip_address"]
    assert "[" not in body["detail"]

    conversation = await new_conversation(client, alice)
    trace = await client.post(
        f"/api/conversations/{conversation['id']}/messages",
        json={"role": "user", "content": "x", "reasoning_trace": [deep(MAX_JSON_DEPTH + 5)]},
        headers=alice.headers,
    )
    body = assert_problem(trace, 422)
    assert body["errors"] == [{"field": "reasoning_trace", "message": body["errors"][0]["message"]}]
    assert "nested deeper" in body["errors"][0]["message"]  # ours, not "should be a valid dictionary"


@pytest.mark.parametrize(
    ("url_of", "field"),
    [
        ("agent", "config"),
        ("persona", "capabilities"),
        ("agent_session", "context"),
        ("conversation", "metadata"),
        ("me", "preferences_json"),
        ("me", "email"),
    ],
)
async def test_null_for_a_not_null_column_is_refused_and_nothing_changes(
    client: httpx.AsyncClient, service: dict[str, str], alice: Account, url_of: str, field: str
) -> None:
    as_service = service | {"X-Agentkeep-User": alice.user_id}
    if url_of == "agent":
        made = await client.post(
            "/api/agents",
            json={"name": f"n-{uuid.uuid4().hex[:8]}", "persona_type": "assistant"},
            headers=service,
        )
        url = f"/api/agents/{made.json()['id']}"
    elif url_of == "persona":
        made = await client.post(
            "/api/personas",
            json={"persona_name": f"p-{uuid.uuid4().hex[:8]}", "persona_version": "1", "specialization": "s"},
            headers=service,
        )
        url = f"/api/personas/{made.json()['id']}"
    elif url_of == "agent_session":
        url = f"/api/agent-sessions/{(await new_agent_session(client, alice))['id']}"
    elif url_of == "conversation":
        url = f"/api/conversations/{(await new_conversation(client, alice))['id']}"
    else:
        url = "/api/users/me"
    before = (await client.get(url, headers=as_service)).json()
    refused = await client.patch(url, json={"version": before["version"], field: None}, headers=as_service)
    assert_problem(refused, 422, field=field)
    after = await client.get(url, headers=as_service)
    assert after.status_code == 200
    assert after.json() == before


async def _as_service(owner: asyncpg.Connection, sql: str, *args: Any) -> Any:
    """Committed SQL as the schema owner acting as a service (catalog rows), like a hand edit."""
    async with owner.transaction():
        for statement in principal_settings(Principal.service()):
            await owner.execute(statement)
        return await owner.fetchval(sql, *args)


@pytest.mark.parametrize("kind", ["agents", "personas"])
async def test_one_bad_stored_catalog_row_does_not_break_the_catalog(
    client: httpx.AsyncClient, service: dict[str, str], alice: Account, owner: asyncpg.Connection, kind: str
) -> None:
    """A row written by hand (or before the limits) that cannot be read back: left out of the
    list for everyone, and a problem (not a crash) when asked for by id."""
    suffix = uuid.uuid4().hex[:8]
    if kind == "agents":
        good = await client.post(
            "/api/agents", json={"name": f"good-{suffix}", "persona_type": "assistant"}, headers=service
        )
        insert = (
            "INSERT INTO agents (id, name, persona_type, config)"
            " VALUES ($1, $2, 'qa', $3::jsonb) RETURNING id"
        )
    else:
        good = await client.post(
            "/api/personas",
            json={"persona_name": f"good-{suffix}", "persona_version": "1", "specialization": "s"},
            headers=service,
        )
        insert = (
            "INSERT INTO personas (id, persona_name, persona_version, specialization, capabilities)"
            " VALUES ($1, $2, '1', 's', $3::jsonb) RETURNING id"
        )
    assert good.status_code == 201
    bad_ids = [uuid.uuid4(), uuid.uuid4()]
    await _as_service(owner, insert, bad_ids[0], f"deep-{suffix}", json.dumps(deep(MAX_JSON_DEPTH + 200)))
    await _as_service(owner, insert, bad_ids[1], f"null-{suffix}", "null")
    try:
        listed = await client.get(f"/api/{kind}", headers=alice.headers)
        assert listed.status_code == 200, listed.text
        ids = {row["id"] for row in listed.json()["items"]}
        assert good.json()["id"] in ids
        assert not ids & {str(bad) for bad in bad_ids}
        for bad in bad_ids:
            one = await client.get(f"/api/{kind}/{bad}", headers=alice.headers)
            body = assert_problem(one, 500, title="Unreadable stored row")
            assert "repair" in body["detail"]
    finally:
        await _as_service(owner, f"DELETE FROM {kind} WHERE id = ANY($1::uuid[]) RETURNING 1", bad_ids)


async def test_204_replies_carry_no_content_type(client: httpx.AsyncClient, alice: Account) -> None:
    conversation = await new_conversation(client, alice)
    message = await client.post(
        f"/api/conversations/{conversation['id']}/messages",
        json={"role": "user", "content": "x"},
        headers=alice.headers,
    )
    for url in (
        f"/api/messages/{message.json()['id']}",
        f"/api/conversations/{conversation['id']}",
        "/api/users/me",
    ):
        response = await client.delete(url, headers=alice.headers)
        assert response.status_code == 204, response.text
        assert "content-type" not in response.headers
        assert response.content == b""


async def test_the_413_is_serialised_like_every_other_problem(
    client: httpx.AsyncClient, alice: Account
) -> None:
    too_big = await client.post(
        "/api/conversations",
        content=b"x" * (MAX_BODY + 1),
        headers=alice.headers | {"content-type": "application/json"},
    )
    missing = await client.get(f"/api/conversations/{uuid.uuid4()}", headers=alice.headers)
    for response in (too_big, missing):
        assert response.headers["content-type"] == "application/problem+json"
        compact = json.dumps(response.json(), separators=(",", ":"), ensure_ascii=False).encode()
        assert response.content == compact
    assert_problem(too_big, 413, title="Payload too large")

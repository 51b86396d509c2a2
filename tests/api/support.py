"""Helpers of the REST API tests: accounts, problem-body checks, rows made through the API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

PROBLEM_JSON = "application/problem+json"
MAX_BODY = 1_048_576  # Settings.max_request_bytes default


@dataclass(frozen=True)
class Account:
    user_id: str
    key: str
    key_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_problem(
    response: httpx.Response,
    status: int,
    *,
    field: str | None = None,
    field_contains: str | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """An RFC 9457 body with the given status; optionally naming ``field`` in errors[]."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["status"] == status
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    if title is not None:
        assert body["title"] == title
    fields = [error["field"] for error in body.get("errors", [])]
    if field is not None:
        assert field in fields, body
    if field_contains is not None:
        assert any(field_contains in name for name in fields), body
    return body


async def new_conversation(
    client: httpx.AsyncClient, who: Account, title: str | None = "chat"
) -> dict[str, Any]:
    response = await client.post("/api/conversations", json={"title": title}, headers=who.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def append(
    client: httpx.AsyncClient, who: Account, conversation_id: str, content: str, **fields: Any
) -> dict[str, Any]:
    body = {"role": "user", "content": content} | fields
    response = await client.post(
        f"/api/conversations/{conversation_id}/messages", json=body, headers=who.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def message_ids(client: httpx.AsyncClient, who: Account, conversation_id: str) -> list[str]:
    response = await client.get(
        f"/api/conversations/{conversation_id}/messages", params={"limit": 200}, headers=who.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    return [m["id"] for m in response.json()["items"]]


async def new_agent_session(client: httpx.AsyncClient, who: Account, **fields: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/agent-sessions", json={"agent_type": "assistant"} | fields, headers=who.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def agent_session_ids(client: httpx.AsyncClient, who: Account) -> list[str]:
    response = await client.get("/api/agent-sessions", params={"limit": 200}, headers=who.headers)
    assert response.status_code == 200, response.text
    return [s["id"] for s in response.json()["items"]]


async def as_owner_for(owner: asyncpg.Connection, user_id: str, sql: str, *args: Any) -> str:
    """Run ``sql`` as the schema owner acting for ``user_id`` (FORCE RLS binds the owner too)."""
    async with owner.transaction():
        await owner.execute(f"SET LOCAL agentkeep.user_id = '{uuid.UUID(user_id)}'")
        return await owner.execute(sql, *args)


def persona_body(**fields: Any) -> dict[str, Any]:
    return {
        "persona_name": f"persona-{uuid.uuid4().hex[:10]}",
        "persona_version": "1.0",
        "specialization": "testing",
    } | fields

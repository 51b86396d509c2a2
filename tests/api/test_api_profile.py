"""GET /api/profile, and the vocabularies over HTTP: a term outside one is a 422 naming the field."""

from __future__ import annotations

import httpx
from support import assert_problem, bearer

from agentkeep.ids import new_id


async def test_the_api_refuses_a_term_outside_the_vocabulary_with_a_422_naming_the_field(
    client: httpx.AsyncClient, service_key: str
) -> None:
    response = await client.post(
        "/api/agents",
        json={"name": f"a-{new_id().hex[:10]}", "persona_type": "wizard"},
        headers=bearer(service_key),
    )
    body = assert_problem(response, 422, field="persona_type")
    assert "'wizard'" in body["detail"]


async def test_get_api_profile_returns_the_active_profile(
    client: httpx.AsyncClient, service_key: str
) -> None:
    response = await client.get("/api/profile", headers=bearer(service_key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "default"
    assert body["vocabularies"]["user_session_type"] == ["interactive", "api", "web", "mobile", "cli"]
    assert body["profile"]["quotas"]["default_tier"] == "unlimited"
    assert_problem(await client.get("/api/profile"), 401)

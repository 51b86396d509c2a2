"""The REST API as a service: OpenAPI document, docs, health, an unreachable database."""

from __future__ import annotations

import httpx

from agentkeep.api.app import create_app
from agentkeep.database.engine import Database
from agentkeep.database.urls import DatabaseUrls
from agentkeep.keep import Keep

# --- documentation --------------------------------------------------------------------------------


async def test_openapi_and_docs(client: httpx.AsyncClient) -> None:
    spec = await client.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    for path in (
        "/api/users",
        "/api/keys",
        "/api/sessions",
        "/api/sessions/touch",
        "/api/agents",
        "/api/personas",
        "/api/agent-sessions",
        "/api/agent-sessions/{session_id}/status",
        "/api/conversations",
        "/api/conversations/{conversation_id}",
        "/api/conversations/{conversation_id}/messages",
        "/api/conversations/{conversation_id}/messages/batch",
        "/api/conversations/{conversation_id}/messages/latest",
        "/api/messages/{message_id}/thread",
        "/health",
    ):
        assert path in paths, path
    assert {"get", "post"} <= set(paths["/api/conversations"])
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    health = await client.get("/health")
    assert health.json() == {"status": "ok"}


async def test_openapi_documents_the_problem_body_of_errors(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert set(spec["components"]["schemas"]["Problem"]["properties"]) >= {
        "type",
        "title",
        "status",
        "detail",
    }
    responses = spec["paths"]["/api/conversations/{conversation_id}"]["get"]["responses"]
    for status in ("401", "404", "422"):
        assert responses[status]["content"]["application/problem+json"]["schema"] == {
            "$ref": "#/components/schemas/Problem"
        }


async def test_an_unreachable_database_is_a_503_problem(keep: Keep) -> None:
    """The API over a database that is down answers with a problem, not a bare 500 page."""
    down = DatabaseUrls(
        owner=keep.database.urls.owner.set(host="127.0.0.1", port=9, query={}),
        app=keep.database.urls.app.set(host="127.0.0.1", port=9, query={}),
    )
    database = Database.from_urls(down)
    app = create_app(keep=Keep(database, keep.settings))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://agentkeep.test") as http:
        response = await http.get("/api/agents", headers={"Authorization": "Bearer aks_whatever"})
    await database.close()
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 503

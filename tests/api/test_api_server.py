"""The API as served: offline docs, liveness and readiness, and what the HTTP server itself answers."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import h11
import httpx
import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from agentkeep.api.app import create_app
from agentkeep.api.server import ProblemH11Protocol
from agentkeep.database.engine import Database
from agentkeep.database.urls import DatabaseUrls
from agentkeep.keep import Keep


async def test_docs_work_without_a_cdn(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "cdn." not in docs.text
    assets = [part.split('"')[0] for part in docs.text.split('src="')[1:]] + [
        part.split('"')[0] for part in docs.text.split('href="')[1:]
    ]
    local = [asset for asset in assets if asset.startswith("/") and asset.endswith((".js", ".css"))]
    assert len(local) >= 2, assets
    for asset in local:
        served = await client.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 10_000
    redoc = await client.get("/redoc")
    assert redoc.status_code == 200
    assert "cdn." not in redoc.text


async def test_ready_when_the_database_answers_and_is_migrated(client: httpx.AsyncClient) -> None:
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}
    assert (await client.get("/health")).json() == {"status": "ok"}


async def test_health_is_liveness_and_ready_says_the_database_is_down(keep: Keep) -> None:
    down = DatabaseUrls(
        owner=keep.database.urls.owner.set(host="127.0.0.1", port=9, query={}),
        app=keep.database.urls.app.set(host="127.0.0.1", port=9, query={}),
    )
    database = Database.from_urls(down)
    app = create_app(keep=Keep(database, keep.settings))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            assert (await http.get("/health")).json() == {"status": "ok"}
            not_ready = await http.get("/ready")
    finally:
        await database.close()
    assert not_ready.status_code == 503
    assert not_ready.headers["content-type"] == "application/problem+json"
    assert "not reachable" in not_ready.json()["detail"]


async def test_not_ready_while_migrations_are_pending(keep: Keep, database_factory: Any) -> None:
    async with database_factory(f"agentkeep_ready_{uuid.uuid4().hex[:8]}") as fresh_urls:
        database = Database.from_urls(fresh_urls)
        try:
            app = create_app(keep=Keep(database, keep.settings))
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
                response = await http.get("/ready")
        finally:
            await database.close()
    assert response.status_code == 503
    assert "pending migration" in response.json()["detail"]
    assert "0001" in response.json()["detail"]


@pytest.fixture
async def served(keep: Keep) -> AsyncIterator[tuple[str, int]]:
    """The API served by uvicorn with agentkeep's protocol, on a free loopback port."""
    config = uvicorn.Config(
        create_app(keep=keep),
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_level="warning",
        http=ProblemH11Protocol,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    yield host, port
    server.should_exit = True
    await task


async def _raw(host: str, port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    connection = h11.Connection(h11.CLIENT)
    connection.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    connection.receive_data(raw)
    response = connection.next_event()
    assert isinstance(response, h11.Response)
    body = b""
    while isinstance(event := connection.next_event(), h11.Data):
        body += event.data
    headers = {name.decode(): value.decode() for name, value in response.headers}
    return response.status_code, headers, body


async def test_a_nul_in_a_header_is_a_problem_from_the_http_server(served: tuple[str, int]) -> None:
    """The HTTP parser refuses the request before the app sees it; its answer is a problem too."""
    host, port = served
    status, headers, body = await _raw(
        host, port, b"GET /api/agents HTTP/1.1\r\nHost: x\r\nX-Agentkeep-User: a\x00b\r\n\r\n"
    )
    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == 400
    assert problem["title"] == "Malformed request"
    # And a well-formed request on the same server reaches the app as usual.
    status, headers, body = await _raw(
        host, port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert (status, json.loads(body)) == (200, {"status": "ok"})


def test_the_protocol_is_uvicorns_h11_one() -> None:
    """Only the 400 answer differs, so every other behaviour stays uvicorn's."""
    assert issubclass(ProblemH11Protocol, H11Protocol)
    overridden = {name for name in vars(ProblemH11Protocol) if not name.startswith("__")}
    assert overridden == {"send_400_response"}

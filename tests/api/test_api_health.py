"""/healthz, /readyz (and their aliases), Prometheus /metrics and X-Correlation-Id."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from support import PROBLEM_JSON, Account

from agentkeep.api.app import create_app
from agentkeep.correlation import current_correlation_id
from agentkeep.database.engine import Database
from agentkeep.database.urls import DatabaseUrls
from agentkeep.keep import Keep


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _requests(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], route: str) -> dict[str, float]:
    """Request counts by status for one route template (GET)."""
    return {
        dict(labels)["status"]: value
        for (name, labels), value in samples.items()
        if name == "agentkeep_http_requests_total"
        and dict(labels)["route"] == route
        and dict(labels)["method"] == "GET"
    }


# --- liveness and readiness ----------------------------------------------------------------------


async def test_healthz_and_readyz_answer_like_their_aliases(client: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/health"):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
    for path in ("/readyz", "/ready"):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.json() == {"status": "ready"}


async def test_openapi_documents_the_health_endpoints(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ("/healthz", "/health", "/readyz", "/ready", "/metrics"):
        assert "get" in paths[path], path
        assert paths[path]["get"]["tags"] == ["health"]
        assert "security" not in paths[path]["get"], path  # no key needed
    for path in ("/readyz", "/ready"):
        assert paths[path]["get"]["responses"]["503"]["content"][PROBLEM_JSON]
    assert list(paths["/metrics"]["get"]["responses"]["200"]["content"]) == [CONTENT_TYPE_LATEST]
    ids = [op["operationId"] for item in paths.values() for op in item.values() if "operationId" in op]
    assert len(ids) == len(set(ids))


async def test_readyz_is_503_while_the_database_is_down_and_healthz_is_not(keep: Keep) -> None:
    down = DatabaseUrls(
        owner=keep.database.urls.owner.set(host="127.0.0.1", port=9, query={}),
        app=keep.database.urls.app.set(host="127.0.0.1", port=9, query={}),
    )
    database = Database.from_urls(down)
    app = create_app(keep=Keep(database, keep.settings))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            alive = await http.get("/healthz")
            not_ready = await http.get("/readyz", headers={"X-Correlation-Id": "probe-1"})
            metrics = await http.get("/metrics")
    finally:
        await database.close()
    assert alive.json() == {"status": "ok"}
    assert not_ready.status_code == 503
    assert not_ready.headers["content-type"] == PROBLEM_JSON
    assert not_ready.json()["instance"] == "/readyz"
    assert "not reachable" in not_ready.json()["detail"]
    assert not_ready.headers["X-Correlation-Id"] == "probe-1"
    # /metrics still answers, and says the database was not reached.
    assert metrics.status_code == 200
    samples = _samples(metrics.text)
    assert samples[("agentkeep_database_up", ())] == 0
    assert (
        samples[("agentkeep_migrations_pending", ())] != samples[("agentkeep_migrations_pending", ())]
    )  # NaN


async def test_readyz_is_503_with_pending_migrations_and_metrics_count_them(
    keep: Keep, database_factory: Any
) -> None:
    async with database_factory(f"agentkeep_readyz_{uuid.uuid4().hex[:8]}") as fresh:
        database = Database.from_urls(fresh)
        try:
            app = create_app(keep=Keep(database, keep.settings))
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
                response = await http.get("/readyz")
                metrics = await http.get("/metrics")
        finally:
            await database.close()
    assert response.status_code == 503
    assert "pending migration" in response.json()["detail"]
    samples = _samples(metrics.text)
    assert samples[("agentkeep_database_up", ())] == 1
    assert samples[("agentkeep_migrations_pending", ())] >= 4  # 0001 … 0004 at least


# --- metrics -------------------------------------------------------------------------------------


async def test_metrics_count_requests_by_route_template_never_by_raw_path(
    client: httpx.AsyncClient, alice: Account
) -> None:
    template = "/api/conversations/{conversation_id}"
    before = _requests(_samples((await client.get("/metrics")).text), template)
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for conversation_id in ids:
        assert (
            await client.get(f"/api/conversations/{conversation_id}", headers=alice.headers)
        ).status_code == 404
    assert (await client.get("/api/conversations/not-a-uuid", headers=alice.headers)).status_code == 422
    assert (await client.get("/no/such/path/" + ids[0])).status_code == 404
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    after = _requests(_samples(metrics.text), template)
    assert after.get("404", 0) - before.get("404", 0) == 3
    assert after.get("422", 0) - before.get("422", 0) == 1
    for conversation_id in ids:  # no raw path, no id, no user in any label
        assert conversation_id not in metrics.text
    assert alice.user_id not in metrics.text
    assert 'route="unmatched"' in metrics.text
    assert "/no/such/path" not in metrics.text
    samples = _samples(metrics.text)
    latency_count = {
        dict(labels)["status"]: value
        for (name, labels), value in samples.items()
        if name == "agentkeep_http_request_duration_seconds_count" and dict(labels)["route"] == template
    }
    assert latency_count["404"] == after["404"]


async def test_metrics_report_both_pools_and_no_pending_migrations(
    client: httpx.AsyncClient, alice: Account
) -> None:
    # Make both pools open a connection: an SDK read (SQLAlchemy) and a message path (asyncpg).
    assert (await client.get("/api/conversations", headers=alice.headers)).status_code == 200
    samples = _samples((await client.get("/metrics")).text)
    assert samples[("agentkeep_migrations_pending", ())] == 0
    assert samples[("agentkeep_database_up", ())] == 1
    for pool in ("sqlalchemy", "asyncpg"):
        labels = (("pool", pool),)
        size = samples[("agentkeep_db_pool_size", labels)]
        opened = samples[("agentkeep_db_pool_open", labels)]
        idle = samples[("agentkeep_db_pool_idle", labels)]
        checked_out = samples[("agentkeep_db_pool_checked_out", labels)]
        assert size == 10, pool  # Database.from_urls' default pool_size
        assert checked_out == opened - idle == 0, pool  # between requests nothing is lent out
        assert 0 <= idle <= 2 * size
    assert samples[("agentkeep_db_pool_open", (("pool", "sqlalchemy"),))] >= 1


async def test_each_app_has_its_own_registry(keep: Keep) -> None:
    first, second = create_app(keep=keep), create_app(keep=keep)
    assert first.state.metrics.registry is not second.state.metrics.registry
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://t") as http:
        await http.get("/healthz")
        await http.get("/healthz")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://t") as http:
        counted = _requests(_samples((await http.get("/metrics")).text), "/healthz")
    assert counted == {}


# --- correlation id ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "offered",
    ["abc", "A.b_c-1", "x" * 128, str(uuid.uuid4())],
)
async def test_a_valid_correlation_id_is_echoed(client: httpx.AsyncClient, offered: str) -> None:
    response = await client.get("/healthz", headers={"X-Correlation-Id": offered})
    assert response.headers["X-Correlation-Id"] == offered


@pytest.mark.parametrize(
    "offered",
    ["", "x" * 129, "has space", "semi;colon", "new\\line", "ünïcode", "a/b", "{id}"],
)
async def test_an_invalid_correlation_id_is_replaced_by_a_uuid(
    client: httpx.AsyncClient, offered: str
) -> None:
    response = await client.get("/healthz", headers={"X-Correlation-Id": offered.encode("utf-8")})
    made = response.headers["X-Correlation-Id"]
    assert made != offered
    assert str(uuid.UUID(made)) == made


async def test_every_response_carries_a_correlation_id_problem_bodies_too(
    client: httpx.AsyncClient, alice: Account
) -> None:
    made = [
        await client.get("/healthz"),
        await client.get("/api/conversations"),  # 401
        await client.get(f"/api/conversations/{uuid.uuid4()}", headers=alice.headers),  # 404
        await client.post("/api/conversations", json={"title": 5}, headers=alice.headers),  # 422
        await client.post(
            "/api/conversations",
            content=b"x" * 2_000_000,
            headers=alice.headers | {"content-type": "application/json"},
        ),  # 413, refused before routing
        await client.get("/metrics"),
    ]
    assert [r.status_code for r in made] == [200, 401, 404, 422, 413, 200]
    ids = [r.headers["X-Correlation-Id"] for r in made]
    assert len(set(ids)) == len(ids)  # a new one each time
    for response in made[1:5]:
        assert response.headers["content-type"] == PROBLEM_JSON
    echoed = await client.get("/api/conversations", headers={"X-Correlation-Id": "req-401"})
    assert echoed.status_code == 401 and echoed.headers["X-Correlation-Id"] == "req-401"
    # One header, not the offered one plus ours.
    assert echoed.headers.get_list("X-Correlation-Id") == ["req-401"]
    # The 413 never reached routing: counted, under a fixed label (never its raw path).
    samples = _samples((await client.get("/metrics")).text)
    refused = (("method", "POST"), ("route", "unrouted"), ("status", "413"))
    assert samples[("agentkeep_http_requests_total", refused)] >= 1


async def test_the_correlation_id_is_current_while_serving_and_on_a_500(keep: Keep) -> None:
    app = create_app(keep=keep)
    seen: list[str | None] = []
    probe = APIRouter()

    @probe.get("/probe/ok")
    async def ok() -> dict[str, str | None]:
        seen.append(current_correlation_id())
        return {"id": current_correlation_id()}

    @probe.get("/probe/boom")
    async def boom() -> None:
        raise RuntimeError("unexpected")

    app.include_router(probe)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        served = await http.get("/probe/ok", headers={"X-Correlation-Id": "trace.42"})
        failed = await http.get("/probe/boom", headers={"X-Correlation-Id": "trace.43"})
        metrics = await http.get("/metrics")
    assert served.json() == {"id": "trace.42"} and seen == ["trace.42"]
    assert current_correlation_id() is None  # unbound after the request
    assert failed.status_code == 500
    assert failed.headers["content-type"] == PROBLEM_JSON
    assert failed.headers["X-Correlation-Id"] == "trace.43"
    assert _requests(_samples(metrics.text), "/probe/boom") == {"500": 1}

"""Request observability: the correlation id on every response, and Prometheus metrics.

One pure ASGI middleware does both, outside FastAPI's routing, so it sees every request (a 404,
a 413 refused before routing, a 500) once. Metrics live in a registry per app: nothing global at
import, and tests may build many apps side by side.

Labels are bounded: the route TEMPLATE (``/api/conversations/{conversation_id}``, never the raw
path with its ids), the method and the status code; no user, key or id ever appears in a label.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentkeep import correlation
from agentkeep.database.engine import Database
from agentkeep.retention.service import RunSummary

CORRELATION_SCOPE_KEY = "agentkeep.correlation_id"
UNMATCHED_ROUTE = "unmatched"  # no route has this path: a 404
UNROUTED = "unrouted"  # answered before routing
_HEADER = correlation.HEADER.lower().encode("latin-1")


class PoolCollector(Collector):
    """Reads the two connection pools' usage when scraped: nothing is counted on the hot path."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        keep = getattr(self._app.state, "keep", None)
        if keep is None:  # before start-up: no pools to describe
            return
        database: Database = keep.database
        pool: Any = database.app_engine.pool
        checked_out = GaugeMetricFamily(
            "agentkeep_db_pool_checked_out", "Connections lent out by the pool", labels=["pool"]
        )
        size = GaugeMetricFamily(
            "agentkeep_db_pool_size", "Connections the pool keeps (beyond: overflow)", labels=["pool"]
        )
        open_ = GaugeMetricFamily("agentkeep_db_pool_open", "Connections the pool has open", labels=["pool"])
        idle = GaugeMetricFamily("agentkeep_db_pool_idle", "Open connections not lent out", labels=["pool"])
        if hasattr(pool, "checkedout"):
            checked_out.add_metric(["sqlalchemy"], pool.checkedout())
            size.add_metric(["sqlalchemy"], pool.size())
            open_.add_metric(["sqlalchemy"], pool.checkedout() + pool.checkedin())
            idle.add_metric(["sqlalchemy"], pool.checkedin())
        drivers = database.drivers
        checked_out.add_metric(["asyncpg"], drivers.open_count - drivers.idle_count)
        size.add_metric(["asyncpg"], drivers.size)
        open_.add_metric(["asyncpg"], drivers.open_count)
        idle.add_metric(["asyncpg"], drivers.idle_count)
        yield from (checked_out, size, open_, idle)


class Metrics:
    """The app's own registry and the metrics the middleware and /metrics update."""

    def __init__(self, app: Any) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "agentkeep_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "agentkeep_http_request_duration_seconds",
            "Time from request to the end of the response, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.migrations_pending = Gauge(
            "agentkeep_migrations_pending",
            "Migrations not yet applied to the database (NaN when it could not be read)",
            registry=self.registry,
        )
        self.database_up = Gauge(
            "agentkeep_database_up", "1 when the last scrape reached the database", registry=self.registry
        )
        self.retention_runs = Counter(
            "agentkeep_retention_runs",
            "Scheduled retention runs by outcome (done, skipped: another server held the lock, failed)",
            ["outcome"],
            registry=self.registry,
        )
        self.retention_rows_archived = Counter(
            "agentkeep_retention_rows_archived",
            "Rows retention archived (and then deleted), by table",
            ["table"],
            registry=self.registry,
        )
        self.registry.register(PoolCollector(app))

    def record_retention(self, outcome: str, summary: RunSummary | None) -> None:
        self.retention_runs.labels(outcome).inc()
        for result in summary.tables if summary is not None else []:
            self.retention_rows_archived.labels(result.table).inc(result.archived)
            for table, rows in result.dependents.items():
                self.retention_rows_archived.labels(table).inc(rows)


def route_template(app: Any, scope: Scope) -> str:
    """The path template of the route that served ``scope``; never the raw path."""
    route = scope.get("route")
    if route is not None:  # FastAPI's APIRoute puts itself in the scope when it matches
        return str(route.path)
    # Starlette's own routes (the docs, openapi.json) do not: find the match. Only those and 404s
    # come here, so the loop is off the API's hot path.
    for candidate in app.router.routes:
        match, _ = candidate.matches(scope)
        if match is Match.FULL:
            path = getattr(candidate, "path", None)
            # An included router tells no template until it routes: the request was refused
            # before routing (a 413 from the body limit).
            return path if isinstance(path, str) else UNROUTED
    return UNMATCHED_ROUTE


class Observability:
    """Pure ASGI middleware: binds the correlation id, echoes it, and records each request."""

    def __init__(self, app: ASGIApp, *, fastapi_app: Any, metrics: Metrics) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = next((value for name, value in scope.get("headers", []) if name == _HEADER), None)
        correlation_id = correlation.accepted_or_new(
            offered.decode("latin-1") if offered is not None else None
        )
        # Kept in the scope too: the 500 handler answers outside this middleware (see problems.py).
        scope[CORRELATION_SCOPE_KEY] = correlation_id
        encoded = correlation_id.encode("latin-1")
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != _HEADER]
                message = {**message, "headers": [*headers, (_HEADER, encoded)]}
            await send(message)

        token = correlation.bind(correlation_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            correlation.unbind(token)
            labels = (scope["method"], route_template(self.fastapi_app, scope), str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - started)

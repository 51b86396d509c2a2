"""Liveness, readiness and metrics: what orchestrators and Prometheus poll.

``/healthz`` and ``/readyz`` are the conventional names; ``/health`` and ``/ready`` stay as
aliases. None of these needs a key: liveness and readiness say nothing about anyone's data, and
``/metrics`` exposes only aggregate numbers (labels are route templates, methods and statuses,
never a user, key or id). Keep the port off the public internet if even that is too much.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agentkeep.api import problems
from agentkeep.api.dependencies import KeepDep
from agentkeep.api.observability import Metrics
from agentkeep.database import migrate

router = APIRouter(tags=["health"])


@router.get("/healthz")
@router.get("/health", summary="Health (alias of /healthz)")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers. It does not touch the database (see /readyz)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: problems.PROBLEM_RESPONSES[503]})
@router.get("/ready", summary="Ready (alias of /readyz)", responses={503: problems.PROBLEM_RESPONSES[503]})
async def readyz(request: Request, keep: KeepDep) -> Response:
    """Readiness: the database answers and its schema has no pending migration (else 503)."""
    try:
        pending = await migrate.pending(keep.database)
    except Exception:  # any failure to reach the database or read its revision: not ready
        return problems.problem(503, "the database is not reachable", instance=request.url.path)
    if pending:
        detail = f"the database has {len(pending)} pending migration(s): {', '.join(pending)}"
        return problems.problem(503, detail, instance=request.url.path)
    return Response('{"status":"ready"}', media_type="application/json")


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
async def metrics(request: Request, keep: KeepDep) -> Response:
    """Prometheus metrics: requests by route template and status, pool usage, pending migrations."""
    collected: Metrics = request.app.state.metrics
    try:
        pending = await migrate.pending(keep.database)
    except Exception:  # the scrape still answers: database_up says why the gauge is NaN
        collected.database_up.set(0)
        collected.migrations_pending.set(float("nan"))
    else:
        collected.database_up.set(1)
        collected.migrations_pending.set(len(pending))
    return Response(generate_latest(collected.registry), media_type=CONTENT_TYPE_LATEST)

"""The REST API: ``create_app()`` builds it; nothing happens at import."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from agentkeep import __version__
from agentkeep.api import problems
from agentkeep.api.dependencies import ActivityClock
from agentkeep.api.limits import BodySizeLimit
from agentkeep.api.observability import Metrics, Observability
from agentkeep.api.routers import (
    activities,
    agent_sessions,
    agents,
    audit,
    consent,
    conversations,
    decisions,
    ethical_validations,
    governance,
    health,
    keys,
    messages,
    onboarding,
    operator,
    personas,
    profile,
    provider_keys,
    trust,
    user_sessions,
    users,
)
from agentkeep.keep import Keep
from agentkeep.partitions import PartitionMaintenance
from agentkeep.retention.scheduler import run_every
from agentkeep.retention.service import RetentionService
from agentkeep.settings import Settings, load_settings

ROUTERS = (
    health,
    users,
    keys,
    user_sessions,
    agents,
    personas,
    agent_sessions,
    onboarding,
    conversations,
    messages,
    decisions,
    governance,
    trust,
    profile,
    audit,
    operator,
    provider_keys,
    consent,
    activities,
    ethical_validations,
)


@asynccontextmanager
async def _retention_schedule(app: FastAPI, keep: Keep, settings: Settings) -> AsyncIterator[None]:
    """Run retention every AGENTKEEP_RETENTION_INTERVAL_SECONDS while the server is up (0: never)."""
    if settings.retention_interval_seconds == 0:
        yield
        return
    service = RetentionService(keep.database, settings.archive_folder)
    schedule = asyncio.create_task(
        run_every(service, settings.retention_interval_seconds, app.state.metrics.record_retention)
    )
    try:
        yield
    finally:
        schedule.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await schedule


def create_app(*, keep: Keep | None = None, settings: Settings | None = None) -> FastAPI:
    """The API over ``keep``; without one, it connects at start-up and closes at shutdown."""
    settings = settings or (keep.settings if keep is not None else load_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if keep is not None:
            app.state.keep = keep
            async with _retention_schedule(app, keep, settings):
                yield
            return
        owned = await Keep.connect(settings)
        app.state.keep = owned
        maintenance = PartitionMaintenance(
            owned.database,
            months_ahead=settings.partition_months_ahead,
            interval_seconds=settings.partition_maintenance_seconds,
        )
        if settings.partition_maintenance_seconds > 0:
            maintenance.start()
        app.state.partition_maintenance = maintenance
        try:
            async with _retention_schedule(app, owned, settings):
                yield
        finally:
            await maintenance.stop()
            await owned.close()

    # Swagger UI and ReDoc served from the fastapi-offline package, not a CDN: /docs works offline.
    app = FastAPIOffline(
        title="agentkeep",
        version=__version__,
        summary="The system of record for AI agents.",
        lifespan=lifespan,
        responses=problems.PROBLEM_RESPONSES,
    )
    if keep is not None:
        app.state.keep = keep
    app.state.activity = ActivityClock()
    problems.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    # Added last, so outermost: it sees (and tags with the correlation id) even a refused body.
    app.state.metrics = Metrics(app)
    app.add_middleware(Observability, fastapi_app=app, metrics=app.state.metrics)
    for module in ROUTERS:
        app.include_router(module.router)

    return app

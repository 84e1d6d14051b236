"""`create_app`: the FastAPI app assembled from the area routers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from fastapi import FastAPI
from temporalio.client import Client

import console
import starter.customer
from starter.api import complaints, health, intake, policy, prevention, reports, steps, webhooks
from starter.api.errors import ERRORS, CatchAll, install_error_handlers
from starter.api.limits import BodyLimit
from starter.api.outage import Breaker, install_outage_handlers
from starter.api.ratelimit import RateLimit
from starter.api.replays import SeenWebhooks
from starter.api.settings import ApiSettings, TemporalClient
from starter.api.shutdown import ShutdownGuard, ShutdownState


def create_app(settings: ApiSettings, connect: Callable[[], Awaitable[Client]]) -> FastAPI:
    """The API. `connect` returns the Temporal client; it is called lazily and retried until it works,
    so the API starts (and /healthz answers 503) while Temporal is still coming up."""
    app = FastAPI(
        title="service-recovery",
        version="1",
        summary="Complaint intake and agents' recovery steps.",
        responses=ERRORS,
        docs_url=None,
        redoc_url=None,
    )  # /docs is served offline by the console
    breaker = Breaker()  # while PostgreSQL is down, pages and the API answer 503 at once
    if settings.database is not None:
        settings = settings.model_copy(update={"database": breaker.guard(settings.database)})
    app.state.settings = settings
    app.state.temporal = TemporalClient(connect, settings.task_queue)
    app.state.seen_webhooks = SeenWebhooks(timedelta(hours=settings.intake.seen_retention_hours))
    app.add_middleware(BodyLimit, limit=settings.intake.max_body_bytes, depth=settings.intake.max_body_depth)
    app.add_middleware(RateLimit, limits=settings.intake.rate_limits, clock=settings.timer)  # before any body is read
    app.add_middleware(CatchAll)  # outside BodyLimit, so it also catches what BodyLimit raises
    app.state.shutdown = ShutdownState()
    app.add_middleware(ShutdownGuard, state=app.state.shutdown)  # added last: outermost, JSON 503 at shutdown
    install_error_handlers(app)
    install_outage_handlers(app, breaker)
    app.include_router(webhooks.router)  # before intake's /v1/webhooks/{source}
    app.include_router(intake.router)
    app.include_router(complaints.router)
    app.include_router(steps.router)
    app.include_router(reports.router)
    app.include_router(prevention.router)
    app.include_router(policy.router)
    app.include_router(health.router)
    starter.customer.install(app, settings)  # the customer's case page /c/{token} (no sign-in)
    console.install(app, settings, app.state.temporal.get)  # the agents' console (/, /login, /cases…) and /docs
    return app

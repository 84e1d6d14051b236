"""Reports from the PostgreSQL read model."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request

from recovery.causes import MAX_WEEKS, CausesReport, causes_report
from recovery.proactive_report import ProactiveReport, proactive_report
from recovery.reports import SlaReport, sla_report
from starter.api.auth import Reader
from starter.api.errors import ApiError
from starter.api.outage import READ_FAILED
from starter.api.settings import settings_of

router = APIRouter(tags=["reports"])
T = TypeVar("T")


async def _read(request: Request, report: Callable[..., Awaitable[T]], **window: Any) -> T:
    """A report over the read model: a bad window is 422, PostgreSQL down or refusing is 503."""
    settings = settings_of(request)
    if settings.database is None:
        raise ApiError(503, "unavailable", "no database configured for reports")
    try:
        return await report(await settings.database(), **window)
    except ValueError as err:
        raise ApiError(422, "validation", str(err)) from None
    except READ_FAILED as err:
        raise ApiError(503, "unavailable", f"PostgreSQL is unavailable: {err}") from None


@router.get(
    "/v1/reports/sla",
    response_model=SlaReport,
    summary="SLA attainment, timings, escalations, repeat contacts, compensation and CSAT (the customers' own "
    "answers apart from agents' scores) from the read model",
)
async def report_sla(
    request: Request,
    _: Reader,
    since: datetime | None = None,
    until: datetime | None = None,
    top: Annotated[int, Query(ge=0, le=100)] = 5,
) -> SlaReport:
    return await _read(request, sla_report, since=since, until=until, top=top)


@router.get(
    "/v1/reports/causes",
    response_model=CausesReport,
    summary="Per root cause of the cases closed in a window: share, repeat contacts, reopenings, money, "
    "handling time, CSAT, breaches, trend against the period before, and closes per week",
)
async def report_causes(
    request: Request,
    _: Reader,
    since: datetime | None = None,
    until: datetime | None = None,
    weeks: Annotated[int | None, Query(ge=1, le=MAX_WEEKS)] = None,
) -> CausesReport:
    """Cases closed in [since, until) (`until` defaults to now, `since` to `weeks` (8) weeks before);
    `weeks` is how many weeks (from Monday, UTC) the weekly series shows, by default the window's."""
    return await _read(request, causes_report, since=since, until=until, weeks=weeks)


@router.get(
    "/v1/reports/proactive",
    response_model=ProactiveReport,
    summary="Proactive versus reactive cases opened in a window: time to the first apology, repeat contacts, "
    "CSAT, compensation per currency, proactive cases per rule",
)
async def report_proactive(
    request: Request, _: Reader, since: datetime | None = None, until: datetime | None = None
) -> ProactiveReport:
    return await _read(request, proactive_report, since=since, until=until)

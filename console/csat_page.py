"""The console's CSAT page (`/reports/csat?since=&until=`): the customers' own follow-up answers
of the cases opened in a window, by severity and by root cause, and apart from them the scores
agents entered. The figures are the SLA report's `csat` section (recovery/csat.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.query_dates import query_dates
from recovery.csat import csat_report
from recovery.report_window import checked_window


def csat_window(since: str, until: str) -> dict[str, datetime]:
    """The page's query (dates or moments, empty for no bound) as `csat_report` arguments, refused
    with a sentence when one is not a date or the window runs backwards."""
    window = query_dates(since, until)
    try:
        checked_window(window.get("since"), window.get("until"))
    except ValueError as err:
        raise ValueError(f"{str(err)[:1].upper()}{str(err)[1:]}.") from None
    return window


def add_routes(
    router: APIRouter,
    *,
    page: Callable[..., Response],
    signed_in: Callable[[Request], Awaitable[Any]],
    database: Callable[[], Awaitable[Any]],
) -> None:
    @router.get("/reports/csat")
    async def reports_csat(request: Request, since: str = "", until: str = "") -> Response:
        session = await signed_in(request)
        form = {"since": since[:40], "until": until[:40]}
        try:
            window = csat_window(since, until)
        except ValueError as err:
            return page("reports_csat.html", request, session, 422, csat=None, error=str(err), form=form)
        report = await csat_report(await database(), **window)
        return page("reports_csat.html", request, session, csat=report, error=None, form=form)

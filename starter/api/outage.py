"""While PostgreSQL is unreachable the API and the console answer 503 at once: JSON for the API, a
page for the console, never a 500 and never a wait on a database that is not there.

A failure opens a breaker for `COOLDOWN`: until then requests that need the database are refused
without trying it; the first one after it tries again. New connections give up after `CONNECT_TIMEOUT`.
"""

from __future__ import annotations

import html
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from activities.store import DATABASE_DOWN

CONNECT_TIMEOUT = 2.0
"""Seconds a new connection to PostgreSQL may take (asyncpg's default is 60)."""
COOLDOWN = 5.0
"""Seconds the breaker stays open after a failure (also the answers' Retry-After)."""


class DatabaseUnavailable(Exception):
    """The breaker is open: the database failed moments ago."""


UNREACHABLE: tuple[type[Exception], ...] = (DatabaseUnavailable, *DATABASE_DOWN)
"""What a page or route that needs the database may see while it is down."""
READ_FAILED: tuple[type[Exception], ...] = (*DATABASE_DOWN, asyncpg.PostgresError)
"""What a read-model route answers 503 for: PostgreSQL unreachable, or refusing the query."""


class Breaker:
    def __init__(self, cooldown: float = COOLDOWN, clock: Callable[[], float] = time.monotonic) -> None:
        self.cooldown = cooldown
        self._clock = clock
        self._open_until = 0.0
        self.last_error = ""

    def check(self) -> None:
        if self._clock() < self._open_until:
            raise DatabaseUnavailable(self.last_error or "the database is unreachable")

    def failed(self, err: BaseException) -> None:
        self.last_error = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        self._open_until = self._clock() + self.cooldown

    def guard(self, database: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
        """The pool accessor, refused at once while the breaker is open."""

        async def guarded() -> Any:
            self.check()
            try:
                return await database()
            except DATABASE_DOWN as err:
                self.failed(err)
                raise
            except Exception as err:  # e.g. the accessor's own 503 (ApiError) for a pool it could not make
                if getattr(err, "status", None) == 503:
                    self.failed(err)
                raise

        return guarded


def wants_page(request: Request) -> bool:
    """The console's pages get a page; the API, health checks and scripts get JSON."""
    path = request.url.path
    if path.startswith(("/v1/", "/healthz", "/readyz", "/metrics")):
        return False
    return "text/html" in request.headers.get("accept", "") or request.method == "POST"


def unavailable_page(text: str) -> HTMLResponse:
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Temporarily unavailable</title>"
        '<link rel="stylesheet" href="/static/console/console.css"></head>'
        '<body><main class="message"><h1>Temporarily unavailable</h1>'
        f'<p>{html.escape(text)}</p><p><a href="">Try again</a> in a few seconds.</p></main></body></html>'
    )
    return HTMLResponse(body, status_code=503, headers={"Retry-After": str(int(COOLDOWN))})


UNAVAILABLE_TEXT = "The case database cannot be reached right now. Nothing you did was lost."


def unavailable(request: Request, detail: str) -> Response:
    if wants_page(request):
        return unavailable_page(UNAVAILABLE_TEXT)
    return JSONResponse(
        status_code=503,
        content={"error": "database_unavailable", "detail": f"the database is unreachable: {detail}"},
        headers={"Retry-After": str(int(COOLDOWN))},
    )


def install_outage_handlers(app: FastAPI, breaker: Breaker) -> None:
    async def _down(request: Request, err: Exception) -> Response:
        if not isinstance(err, DatabaseUnavailable):
            breaker.failed(err)
        return unavailable(request, breaker.last_error or str(err))

    for kind in UNREACHABLE:
        app.add_exception_handler(kind, _down)

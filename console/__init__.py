"""The agents' web console and the API's offline docs, served by the `recovery api` process."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from temporalio.client import Client

from console.docs import install_docs
from console.routes import Redirect, build_router
from console.session import SessionKeeper


def install(
    app: FastAPI, settings: Any, temporal: Callable[[], Awaitable[Client]], keeper: SessionKeeper | None = None
) -> None:
    """Add the console (/, /login, /cases/…, /reports, /live), its assets and /docs to the API app."""
    app.mount(
        "/static/console",
        StaticFiles(directory=str(resources.files("console").joinpath("static"))),
        name="console-static",
    )
    install_docs(app)
    app.include_router(build_router(settings, temporal, keeper))

    @app.exception_handler(Redirect)
    async def _redirect(_: Request, err: Redirect) -> RedirectResponse:
        return RedirectResponse(err.url, status_code=303)

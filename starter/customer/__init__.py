"""The customer's side: the personal case page `/c/{token}` (page.py, readmodel.py) and its assets,
served by the `recovery api` process next to the agents' console. Tokens: recovery/links.py."""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from starter.customer.page import Limiter, build_router


def install(app: FastAPI, settings: Any, limiter: Limiter | None = None) -> None:
    """Add `/c/{token}`, `/c/{token}/status.json` and `/static/customer/` to the API app."""
    app.mount(
        "/static/customer",
        StaticFiles(directory=str(resources.files("starter.customer").joinpath("static"))),
        name="customer-static",
    )
    app.include_router(build_router(settings, settings.links, limiter or Limiter(settings.timer)))

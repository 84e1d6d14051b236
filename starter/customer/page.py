"""The customer's case page, `/c/{token}`: no sign-in, server-rendered, phone-first, served by
`recovery api` with its own assets (no CDN). `/c/{token}/status.json` answers the page's version,
which its script polls to refresh itself without a reload.

* A bad, expired or revoked token, or a case the store no longer has (erased), gets the same plain
  404 page: no hint which it was.
* No GET writes anything (mail scanners open links before people do): the page only reads the
  read model and `customer_links`. `?score=N` (the follow-up email's score links) only preselects a
  score; the customer's answers, messages and opt-out are POSTs (starter/customer/actions.py), each
  with the link's CSRF token.
* Rate limited per link and per client address (429 with Retry-After), over a moving window kept in
  this process (starter/api/ratelimit.py `Window`), counting 404s too, so guessing costs time.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from recovery.links import CaseLink, Links
from starter.api.ratelimit import Window, client_address, retry_after
from starter.customer.answers import NOTICES
from starter.customer.readmodel import CustomerCase, customer_case, opted_out, version_of

PER_LINK = 60
PER_ADDRESS = 240
WINDOW_SECONDS = 60.0
POLL_SECONDS = 5

HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token must not leave in a Referer
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
}

templates = Environment(
    loader=PackageLoader("starter.customer", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def utc_text(at: datetime | None) -> str:
    if at is None:
        return ""
    return at.astimezone(timezone.utc).strftime("%a %-d %b %Y, %H:%M UTC")


templates.filters["utc"] = utc_text
templates.filters["iso"] = lambda at: at.astimezone(timezone.utc).isoformat() if at else ""


class Limiter:
    """Requests per link (by the token's hash) and per client address."""

    def __init__(self, clock: Any, per_link: int = PER_LINK, per_address: int = PER_ADDRESS):
        self.links = Window(per_link, WINDOW_SECONDS, clock)
        self.addresses = Window(per_address, WINDOW_SECONDS, clock)

    def admit(self, token: str, address: str) -> float | None:
        """Seconds to wait (refused), or None (admitted and counted)."""
        link = hashlib.sha256(token.encode()).hexdigest()
        waits = [w for w in (self.links.wait(link), self.addresses.wait(address)) if w is not None]
        if waits:
            return max(waits)
        self.links.hit(link)
        self.addresses.hit(address)
        return None


def _page(name: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    body = templates.get_template(name).render(**context)
    return HTMLResponse(body, status_code=status, headers={**HEADERS, **(headers or {})})


def not_found() -> HTMLResponse:
    return _page("not_found.html", 404)


def render_case(
    links: Links,
    link: CaseLink,
    token: str,
    case: CustomerCase,
    *,
    opted_out: bool,
    status: int = 200,
    score: int | None = None,
    option: int | None = None,
    comment: str = "",
    reply: str = "",
    nonce: str | None = None,
    notice: str = "",
    error: str = "",
    error_form: str = "",
) -> HTMLResponse:
    """The case page; after a refused POST, with the message and everything the customer typed."""
    assert link.link_id is not None
    return _page(
        "case.html",
        status,
        case=case,
        status_url=f"/c/{token}/status.json",
        poll_seconds=POLL_SECONDS,
        token=token,
        csrf=links.signer.form_token(link.link_id),
        nonce=nonce or secrets.token_urlsafe(18),
        score=score,
        option_choice=option,
        comment=comment,
        reply=reply,
        opted_out=opted_out,
        notice=notice,
        error=error,
        error_form=error_form,
    )


def build_router(settings: Any, links: Links | None, limiter: Limiter) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    async def resolve(request: Request, token: str) -> tuple[Any, CaseLink] | Response:
        """(pool, link) for a good token; else the response to give (404 or 429)."""
        wait = limiter.admit(token, client_address(request.scope))
        if wait is not None:
            return _page("limited.html", 429, {"Retry-After": retry_after(wait)}, seconds=retry_after(wait))
        if links is None or settings.database is None:
            return not_found()
        pool = await settings.database()
        link = await links.resolve(pool, token)
        if link is None:
            return not_found()
        return pool, link

    @router.get("/c/{token}", response_class=HTMLResponse)
    async def case_page(request: Request, token: str, score: str = "", sent: str = "") -> Response:
        found = await resolve(request, token)
        if isinstance(found, Response):
            return found
        pool, link = found
        assert links is not None
        case = await customer_case(pool, link.workflow_id)
        if case is None:
            return not_found()
        return render_case(
            links,
            link,
            token,
            case,
            opted_out=await opted_out(pool, link.customer_id),
            score=int(score) if len(score) == 1 and score in "12345" else None,
            notice=NOTICES.get(sent, ""),
        )

    @router.get("/c/{token}/status.json")
    async def case_version(request: Request, token: str) -> Response:
        found = await resolve(request, token)
        if isinstance(found, Response):
            return found
        pool, link = found
        version = await version_of(pool, link.workflow_id)
        if version is None:
            return not_found()
        return JSONResponse({"version": version}, headers=HEADERS)

    from starter.customer.actions import install_actions  # (it renders with this module's pages)

    install_actions(router, settings, links, resolve)
    return router

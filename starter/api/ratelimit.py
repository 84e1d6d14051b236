"""Rate limits (ASGI middleware): requests per bearer token, deliveries per intake source, and
failed console sign-ins and refused OIDC logout tokens per client address, each over a moving
window (docs/ops.md, "Rate limits"). Past a limit the answer is 429 with `Retry-After`: JSON
`{error: rate_limited, detail}` for the API and the back-channel logout, a page for the console's
sign-in.

The counters live in this process: with N replicas the effective limit is N times the configured
one. The client address is the ASGI client host (behind a proxy: uvicorn's forwarded headers).

Our own window rather than the `limits` package: its in-memory storage reads the wall clock itself
(no clock to inject, so a test would wait out the minute) and runs a timer thread for expiry; what
is needed here is a deque of timestamps per key.
"""

from __future__ import annotations

import hashlib
import html
import math
from collections import deque
from collections.abc import Awaitable, Callable

from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from starter.api.errors import error_response
from starter.intake import RateLimits

SIGN_IN = "/login"
BACKCHANNEL_LOGOUT = "/login/oidc/backchannel-logout"
"""Where the OIDC provider posts logout tokens (console/oidc_logout.py)."""
SOURCES = {"/v1/tickets": "tickets", "/v1/webhooks/zendesk": "zendesk", "/v1/webhooks/jira": "jira"}
"""The intake routes (POST) and the source each one's deliveries count against."""
Refusal = Callable[[Scope, Receive, Send, float], Awaitable[None]]
"""Answers a request past its limit, given the seconds until it may be tried again."""


class Window:
    """At most `limit` events per `seconds` for each key (a moving window over the last `seconds`)."""

    def __init__(self, limit: int, seconds: float, clock: Callable[[], float]):
        self.limit, self.seconds, self._clock = limit, seconds, clock
        self._events: dict[str, deque[float]] = {}
        self._swept = clock()

    def wait(self, key: str) -> float | None:
        """Seconds until `key` may have another event; None: it may now."""
        now = self._clock()
        events = self._events.get(key)
        if events is None:
            return None
        while events and events[0] <= now - self.seconds:
            events.popleft()
        if len(events) < self.limit:
            return None
        return events[0] + self.seconds - now

    def hit(self, key: str) -> float:
        """Count an event for `key` now; returns its time (for `release`)."""
        now = self._clock()
        self._events.setdefault(key, deque()).append(now)
        if now - self._swept > self.seconds:  # forget keys whose events are all past the window
            self._swept = now
            self._events = {k: v for k, v in self._events.items() if v and v[-1] > now - self.seconds}
        return now

    def release(self, key: str, stamp: float) -> None:
        """Un-count an event `hit` returned `stamp` for."""
        events = self._events.get(key)
        if events is not None and stamp in events:
            events.remove(stamp)


class RateLimit:
    """ASGI middleware: 429 for a request past its limits before the app sees it. A sign-in the app
    refuses (401) counts against its client address; an intake delivery it refuses with 401 (bad
    signature or token) does not count against the source, so strangers cannot use up its limit."""

    def __init__(self, app: ASGIApp, limits: RateLimits, clock: Callable[[], float]):
        self.app, self.limits = app, limits
        seconds = limits.window_seconds
        self.tokens = Window(limits.api_per_token, seconds, clock)
        per_source: dict[str, int] = {source: limits.webhooks_per_source for source in SOURCES.values()}
        for source, limit in limits.sources.items():
            per_source[source] = limit
        self.sources = {source: Window(limit, seconds, clock) for source, limit in per_source.items()}
        self.sign_ins = Window(limits.sign_in_failures_per_address, seconds, clock)
        self.logout_tokens = Window(limits.logout_token_failures_per_address, seconds, clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, post = scope["path"], scope["method"] == "POST"
        if post and path == SIGN_IN:
            await self._failures(self.sign_ins, 401, _refuse_page, scope, receive, send)
            return
        if post and path == BACKCHANNEL_LOGOUT:
            await self._failures(self.logout_tokens, 400, _refuse_logout, scope, receive, send)
            return
        counted: list[tuple[Window, str]] = []
        source = SOURCES.get(path) if post else None
        if source is not None:
            counted.append((self.sources[source], source))
        token = bearer_token(scope)
        if token is not None:
            counted.append((self.tokens, hashlib.sha256(token.encode()).hexdigest()))
        for window, key in counted:
            wait = window.wait(key)
            if wait is not None:
                what = f"{source} deliveries" if window is not self.tokens else "requests with this token"
                detail = f"over the limit of {window.limit} {what} per {self.limits.window_seconds} s"
                await _refuse_json(scope, receive, send, wait, detail)
                return
        stamps = [window.hit(key) for window, key in counted]
        if source is None:
            await self.app(scope, receive, send)
            return
        status = await _status_of(self.app, scope, receive, send)
        if status == 401:  # not the source (bad signature or token): it must not use up the source's limit
            self.sources[source].release(source, stamps[0])

    async def _failures(
        self, window: Window, failed: int, refuse: Refusal, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Count the request against its client address in `window` when the app answers `failed`."""
        address = client_address(scope)
        wait = window.wait(address)
        if wait is not None:
            await refuse(scope, receive, send, wait)
            return
        # Counted as failed until the app says otherwise: requests sent at once cannot all slip
        # past the limit while the first ones are being checked.
        stamp, status = window.hit(address), 0
        try:
            status = await _status_of(self.app, scope, receive, send)
        finally:
            if status != failed:  # accepted (or refused before the credential was tried)
                window.release(address, stamp)


async def _status_of(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> int:
    """Run the app; the status it answered (0: none, e.g. the client went away)."""
    status = 0

    async def watching(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        await send(message)

    await app(scope, receive, watching)
    return status


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return None
            return token.strip()
    return None


def retry_after(wait: float) -> str:
    return str(max(1, math.ceil(wait)))


async def _refuse_json(scope: Scope, receive: Receive, send: Send, wait: float, detail: str) -> None:
    headers = {"Retry-After": retry_after(wait)}
    response = error_response(429, "rate_limited", f"{detail}; retry after {headers['Retry-After']} s", headers)
    await response(scope, receive, send)


async def _refuse_logout(scope: Scope, receive: Receive, send: Send, wait: float) -> None:
    detail = "too many refused logout tokens from this address"
    await _refuse_json(scope, receive, send, wait, detail)


async def _refuse_page(scope: Scope, receive: Receive, send: Send, wait: float) -> None:
    seconds = retry_after(wait)
    text = f"Too many sign-ins with a wrong token came from your address. Try again in {seconds} seconds."
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Too many sign-in attempts</title>"
        '<link rel="stylesheet" href="/static/console/console.css"></head>'
        '<body><main class="message"><h1>Too many sign-in attempts</h1>'
        f'<p>{html.escape(text)}</p><p><a href="/login">Back to sign-in</a></p></main></body></html>'
    )
    headers = {"Retry-After": seconds, "Cache-Control": "no-store"}
    await HTMLResponse(body, status_code=429, headers=headers)(scope, receive, send)

"""Shutting down answers JSON: 503 `{"error": "shutting_down", "detail"}`, never uvicorn's plain-text 500.

When uvicorn stops (SIGTERM, Ctrl-C, `recovery dev` stopping the stack) it closes the listening
socket, lets in-flight requests run for the grace period, then cancels them; a cancelled request
that has not answered yet would get uvicorn's own plain-text "500 Internal Server Error".
`ShutdownGuard`, the outermost ASGI middleware, answers such a request with the JSON 503 instead,
and once the server is stopping (`mark_shutting_down`, called from `ApiServer.handle_exit` and from
the lifespan shutdown) answers a new request, e.g. one more on a keep-alive connection, the same
way at once. Clients retry a 503 (docs/ops.md, "Errors").
"""

from __future__ import annotations

import asyncio
from types import FrameType
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from starter.api.errors import error_response

DETAIL = "the API is shutting down; retry in a moment (or on another instance)"


class ShutdownState:
    def __init__(self) -> None:
        self.shutting_down = False


def mark_shutting_down(app: Any) -> None:
    """From now on `app` (a `create_app` app) answers new requests with the JSON 503."""
    state = getattr(getattr(app, "state", None), "shutdown", None)
    if isinstance(state, ShutdownState):
        state.shutting_down = True


async def _answer_503(scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(503, "shutting_down", DETAIL)
    response.headers["Connection"] = "close"
    response.headers["Retry-After"] = "1"
    await response(scope, receive, send)


class ShutdownGuard:
    """ASGI middleware (outermost): see the module docstring."""

    def __init__(self, app: ASGIApp, state: ShutdownState):
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._lifespan_receive(receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.state.shutting_down:
            await _answer_503(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except asyncio.CancelledError:
            # uvicorn cancels what outlives its grace period: only then can this request be cancelled.
            self.state.shutting_down = True
            if started:
                raise  # half a response is out: only dropping the connection tells the client
            await _answer_503(scope, receive, send)

    def _lifespan_receive(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                self.state.shutting_down = True
            return message

        return wrapped


class ApiServer(uvicorn.Server):
    """uvicorn's server, telling the app as soon as a signal asks it to stop."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        mark_shutting_down(self.config.app)
        super().handle_exit(sig, frame)

    def stop(self) -> None:
        """Stop as a signal would (for a caller that owns the signals, e.g. `recovery dev`)."""
        mark_shutting_down(self.config.app)
        self.should_exit = True

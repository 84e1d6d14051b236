"""The request body limits, enforced before any route parses a body (ASGI middleware): the size
before the body is read, and the JSON nesting depth (starter/api/bodies.py) once it is."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from starter.api.bodies import BodyRefused, check_body

FORMS = (b"application/x-www-form-urlencoded", b"multipart/form-data")


class BodyLimit:
    """ASGI middleware: 413 from Content-Length before reading, and 413 as soon as a streamed
    (chunked) body passes the limit. The body is read here, up to the limit, and handed to the app
    whole: a route never sees a truncated body (which it would call malformed, 400), nor one nested
    too deep to parse (400). Forms (the console's) are not JSON: only their size is checked."""

    def __init__(self, app: ASGIApp, limit: int, depth: int = 64):
        self.app, self.limit, self.depth = app, limit, depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _send_json(send, 400, "bad_request", "Content-Length is not a number")
                return
            if int(declared) > self.limit:
                await _send_json(
                    send, 413, "too_large", f"body of {int(declared)} bytes is over the {self.limit}-byte limit"
                )
                return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await _send_json(send, 413, "too_large", f"body is over the {self.limit}-byte limit")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and not headers.get(b"content-type", b"").lower().startswith(FORMS):
            try:
                check_body(body, self.limit, self.depth)
            except BodyRefused as refused:
                await _send_json(send, refused.status, refused.error, refused.detail)
                return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for a disconnect as usual

        await self.app(scope, replay, send)


async def _send_json(send: Send, status: int, error: str, detail: str) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})

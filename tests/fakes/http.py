"""The common part of the loopback SaaS fakes: a threaded HTTP server, basic auth, rate limits."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Answer:
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None):
        self.status, self.body, self.headers = status, body, headers or {}


class FakeHttpService:
    """Subclasses implement `handle(method, path, query, body, headers) -> Answer`.

    Knobs: `rate_limit_next` — the next N requests answer 429 with `Retry-After: retry_after`;
    `requests` — every request as (method, path, body) in arrival order."""

    retry_after = 1

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.rate_limit_next = 0
        self.rate_limited = 0
        self.requests: list[tuple[str, str, Any]] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
                path, _, query = self.path.partition("?")
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                with service.lock:
                    service.requests.append((method, path, body))
                    if service.rate_limit_next > 0:
                        service.rate_limit_next -= 1
                        service.rate_limited += 1
                        answer = service.rate_limit_answer()
                    else:
                        answer = service.handle(method, path, query, body, self.headers)
                self.send_response(answer.status)
                payload = answer.body
                data = (
                    payload.encode()
                    if isinstance(payload, str)
                    else (b"" if payload is None else json.dumps(payload).encode())
                )
                self.send_header("Content-Type", "text/plain" if isinstance(payload, str) else "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PUT(self) -> None:
                self._serve("PUT")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def rate_limit_answer(self) -> Answer:
        return Answer(429, {"error": "rate limited"}, {"Retry-After": str(self.retry_after)})

    def handle(self, method: str, path: str, query: str, body: Any, headers: Any) -> Answer:
        raise NotImplementedError

    @staticmethod
    def basic_auth(headers: Any) -> tuple[str, str] | None:
        value = headers.get("Authorization", "")
        if not value.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        except ValueError:
            return None
        return user, password

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

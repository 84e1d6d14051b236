"""Small helpers shared by the tests: tickets, policies, polling, a loopback webhook receiver."""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

from workflows.models import Actor, TicketEvent
from workflows.policy import Policy
from workflows.policy_files import default_policy_text, parse_policy

T = TypeVar("T")

AGENT = Actor(id="alice", role="agent")
OTHER_AGENT = Actor(id="bob", role="agent")
LEAD = Actor(id="lena", role="team-lead")


def ticket(
    n: int | str = 1,
    *,
    event: str | None = None,
    customer: str = "cust-1",
    order: str | None = "ord-1",
    severity: str | None = None,
    payment: str | None = None,
    stripe_customer: str | None = None,
    **extra: Any,
) -> TicketEvent:
    data: dict[str, Any] = {
        "source": "generic",
        "event_id": event or f"evt-{n}",
        "ticket_id": f"T-{n}",
        "customer": {"id": customer, "name": "Dana Example", "email": "dana@example.com"},
        "subject": "Wrong size shipped",
        "description": "Ordered M, got XXL.",
        "occurred_at": "2026-11-20T10:00:00+00:00",
    }
    if order:
        data["order"] = {"id": order, "currency": "USD", "total": "88.00", "shipping": "9.00"}
        if payment:
            data["order"]["payment_reference"] = payment
    if stripe_customer:
        data["customer"]["payment_customer_id"] = stripe_customer
    if severity:
        data["severity"] = severity
    data.update(extra)
    return TicketEvent.model_validate(data)


def policy(**overrides: str) -> Policy:
    """The default policy with TOML snippets replaced: policy(normal='...') etc. keep it readable."""
    text = default_policy_text()
    for old, new in overrides.items():
        assert old in text, old
        text = text.replace(old, new)
    return parse_policy(text, "test policy")


def fast_policy(
    clock: str = "wall",
    ack: str = "1h",
    fix: str = "4h",
    compensate: str = "4h",
    follow_up: str = "1s",
    close: str = "4h",
    interval: str = "30m",
    max_silence: str = "30d",
    age_ceiling: str = "60d",
) -> Policy:
    """All severities share one simple wall-clock deadline set, so tests can compute times."""
    text = default_policy_text()
    base = parse_policy(text, "default")
    data = base.model_dump(mode="json")
    for sev in data["severities"]:
        data["severities"][sev] = {
            "clock": clock,
            "acknowledge": ack,
            "fix": fix,
            "compensate": compensate,
            "follow_up": follow_up,
            "close": close,
        }
    data["escalation"].update(interval=interval, max_silence=max_silence, age_ceiling=age_ceiling)
    return Policy.model_validate(data)


async def eventually(check: Callable[[], Awaitable[T]], *, timeout: float = 20.0, interval: float = 0.1) -> T:
    """Poll `check` until it returns a truthy value or raises no AssertionError, with a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = await check()
            if result:
                return result
            error: Exception | None = AssertionError("condition still false")
        except AssertionError as exc:
            error = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {error}")
        await asyncio.sleep(interval)


class WebhookReceiver:
    """A loopback HTTP server that records Slack-style notification POSTs by idempotency key."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        self.received = received
        self.fail_next = 0
        self.hold_template: str | None = None
        self.held = threading.Event()
        self.release = threading.Event()

        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if receiver.fail_next > 0:
                    receiver.fail_next -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                payload = json.loads(body)
                payload["_key_header"] = self.headers.get("Idempotency-Key")
                received.append(payload)
                if payload.get("template") == receiver.hold_template and not receiver.held.is_set():
                    receiver.held.set()
                    receiver.release.wait(timeout=60)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def hold(self, template: str) -> None:
        """Keep the first POST of `template` open (recorded, unanswered) until `release` is set."""
        self.hold_template = template

    def keys(self) -> Counter[str]:
        return Counter(item["idempotency_key"] for item in self.received)

    def for_case(self, case_id: str) -> list[dict[str, Any]]:
        return [item for item in self.received if item["case_id"] == case_id]

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


# A test picks a port, then its server binds it seconds later. Ports below the kernel's ephemeral
# range are safe in between: bind(0), outgoing connections and the Temporal dev server's random
# ports all draw from that range. Each xdist process hands out its own slice, in turn.
_PORTS_BELOW_EPHEMERAL = 12000
_SLICES = 8
_handed_out = [random.randrange(1 << 16)]


def _port_slice() -> range:
    try:
        ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return range(0)
    low = ephemeral_low - _PORTS_BELOW_EPHEMERAL
    if low < 1024:
        return range(0)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    index = int(worker) % _SLICES if worker.isdigit() else 0
    size = _PORTS_BELOW_EPHEMERAL // _SLICES
    return range(low + index * size, low + (index + 1) * size)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now and that nothing else in the suite picks soon."""
    ports = _port_slice()
    for _ in range(len(ports)):
        port = ports[_handed_out[0] % len(ports)]
        _handed_out[0] += 1
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # no usable range on this machine: any free port
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_of(pool: Any) -> Any:
    """A `starter.cases.Database` over a test's pool: long cases' early events come from the event store."""

    async def get() -> Any:
        return pool

    return get


FIGURE_MARK = "[figure] "


def figure(text: str) -> None:
    """Print a reliability figure (lost, doubled, gaps…): `make test` repeats every one in its summary."""
    print(f"\n{FIGURE_MARK}{text.strip()}")

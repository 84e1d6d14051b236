"""Every bad input is a 4xx with `{error, detail}`, never a 5xx (issue 15, "done when"): all routes ×
malformed JSON, wrong types, control characters, huge and chunked bodies, out-of-range dates and
timestamps, unknown fields. In process (fast); the keep-alive and chunked checks against a real server."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from temporalio.client import Client

from starter.agents import load_agents
from starter.api import ApiSettings, create_app
from starter.intake import IntakeConfig, JiraConfig, ZendeskConfig, sign_jira, sign_zendesk
from starter.intake.orders import OrdersConfig
from starter.intake.stripe_events import StripeConfig
from tests.helpers import fast_policy, free_port
from tests.starter import proactive_helpers as proactive
from tests.starter.bad_input_prevention import prevention_cases
from workflows.policy_files import default_policy_text

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 4096
ALICE = {"Authorization": "Bearer dev-alice-0123456789"}
ZENDESK_SECRET, JIRA_SECRET = "zd-secret-0123", "jira-secret-0123"
CASE = "cust-matrix:ord-1"  # never opened: every request below must be refused before it matters
TICKET: dict[str, Any] = {
    "source": "generic",
    "event_id": "evt-matrix",
    "ticket_id": "T-matrix",
    "customer": {"id": "cust-matrix", "name": "Dana Example", "email": "dana@example.com"},
    "order": {"id": "ord-1", "currency": "USD", "total": "88.00", "shipping": "9.00"},
    "subject": "Glass arrived broken",
    "description": "Box crushed.",
    "occurred_at": "2026-11-20T10:00:00+00:00",
}
STEP_BODIES: dict[str, dict[str, Any]] = {
    "acknowledge": {"message": "Sorry"},
    "fix": {"description": "Sent a new one"},
    "compensation": {"kind": "credit", "amount": {"amount": "10.00", "currency": "USD"}, "reason": "late"},
    "approval": {"approve": True, "note": "ok"},
    "follow-up": {"outcome": "satisfied", "csat": 5, "note": ""},
    "close": {"root_cause": "carrier", "note": "done"},
    "pause": {"reason": "waiting"},
    "resume": {"note": ""},
    "severity": {"severity": "high", "reason": "customer called twice"},
    "policy": {"expected": "default@2026-11"},
    "assignment": {"assignee": "alice", "note": ""},
}
OFFER: dict[str, Any] = {
    "options": [{"kind": "refund", "amount": {"amount": "20.00", "currency": "USD"}}, {"kind": "replacement"}],
    "default": 1,
    "choose_by": "2026-12-20T10:00:00Z",
    "reason": "late",
}
OUT_OF_RANGE = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]
CONTROL = ["\u0000", "\u0007", "\u001b[31m", "\u007f"]


def settings(database: Any = None) -> ApiSettings:
    return ApiSettings(
        agents=load_agents(str(ROOT / "starter" / "dev_agents.toml")),
        intake=IntakeConfig(
            max_body_bytes=LIMIT,
            zendesk=ZendeskConfig(secrets=[ZENDESK_SECRET]),
            jira=JiraConfig(secrets=[JIRA_SECRET], customer_id_field="customfield_1"),
            stripe=StripeConfig(secrets=[proactive.WHSEC]),
            orders=OrdersConfig(secrets=[proactive.ORDERS_SECRET]),
        ),
        policy=fast_policy(),
        task_queue="no-worker-on-this-queue",
        database=database,
    )


async def down_database() -> asyncpg.Pool:
    """A pool for a PostgreSQL that is down (nothing listens on the port)."""
    pool = await asyncpg.create_pool(f"postgresql://127.0.0.1:{free_port()}/none", min_size=0, max_size=1)
    assert pool is not None
    return pool


async def no_temporal() -> Client:
    # Every request of the matrix must be refused before Temporal: reaching it shows up as a 503.
    raise ConnectionError("this test has no Temporal")


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings(down_database), no_temporal)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        http.app = app  # type: ignore[attr-defined]
        yield http


def zendesk_headers(raw: bytes, stamp: str | None = None) -> dict[str, str]:
    stamp = stamp or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "X-Zendesk-Webhook-Signature": sign_zendesk(ZENDESK_SECRET, stamp, raw),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "Content-Type": "application/json",
    }


def jira_headers(raw: bytes) -> dict[str, str]:
    return {
        "X-Hub-Signature": sign_jira(JIRA_SECRET, raw),
        "Content-Type": "application/json",
        "X-Atlassian-Webhook-Identifier": "delivery-1",
    }


def jira_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "webhookEvent": "jira:issue_created",
        "timestamp": 1763632800000,
        "issue": {
            "key": "SUP-1",
            "fields": {
                "summary": "Broken",
                "description": "Box crushed.",
                "reporter": {"accountId": "a-1", "displayName": "Dana"},
                "customfield_1": "cust-matrix",
            },
        },
    }
    body.update(overrides)
    return body


def zendesk_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ticket_id": "4711",
        "subject": "Broken",
        "description": "Box crushed.",
        "updated_at": "2026-11-20T10:00:00Z",
        "requester": {"id": "cust-matrix", "name": "Dana", "email": "dana@example.com"},
    }
    body.update(overrides)
    return body


class Case:
    """One request of the matrix: what is sent and what kind of input it is."""

    def __init__(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        sign: str | None = None,
        chunked: bool = False,
    ):
        self.kind, self.method, self.path, self.params, self.chunked = kind, method, path, params, chunked
        self.raw = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        self.headers = dict(headers if headers is not None else ALICE)
        if self.raw is not None:
            self.headers.setdefault("Content-Type", "application/json")
            if sign == "zendesk":
                self.headers.update(zendesk_headers(self.raw))
            elif sign == "jira":
                self.headers.update(jira_headers(self.raw))
            elif sign == "stripe":
                self.headers["Stripe-Signature"] = proactive.stripe_signature(self.raw)
            elif sign == "orders":
                self.headers.update(proactive.orders_headers(self.raw))

    def __repr__(self) -> str:
        return f"{self.kind}: {self.method} {self.path} {self.params or ''} {(self.raw or b'')[:80]!r}"


def body_cases(
    route: str, valid: dict[str, Any], sign: str | None = None, epoch_times: tuple[str, ...] = ()
) -> Iterator[Case]:
    """Malformed JSON, wrong types, control characters, unknown fields, huge and chunked bodies.
    Webhooks (`sign`) carry third-party payloads: their unknown and unmapped fields are accepted by
    design (docs/ops.md), so only the shape of the body and its mapped fields are varied."""
    for raw in (b'{"subject": ', b"not json", b"\xff\xfe", b'{"a": 1}{"b": 2}', b"[1, 2"):
        yield Case("malformed JSON", "POST", route, raw=raw, sign=sign)
    for wrong in ([], "text", 42, None, True):
        yield Case("wrong type (body)", "POST", route, body=wrong, sign=sign)
    if sign not in (None, "orders"):  # the order feed is the engine's own strict schema
        return
    for key in valid:
        # `epoch_times`: pydantic reads a number as Unix time there, a valid input.
        for value in ([], {"x": 1}) if key in epoch_times else (123456, [], {"x": 1}, -1.5):
            yield Case("wrong type (field)", "POST", route, body={**valid, key: value}, sign=sign)
    text_keys = [k for k, v in valid.items() if isinstance(v, str)]
    for key in text_keys:
        for control in CONTROL:
            yield Case("control character", "POST", route, body={**valid, key: f"a{control}b"}, sign=sign)
    yield Case("unknown field", "POST", route, body={**valid, "unexpected": 1}, sign=sign)
    yield Case("unknown field", "POST", route, body={**valid, "actor": {"id": "lena", "role": "team-lead"}}, sign=sign)


def size_cases(route: str, sign: str | None = None) -> Iterator[Case]:
    yield Case("huge body", "POST", route, raw=b'{"x": "' + b"y" * LIMIT + b'"}', sign=sign)
    yield Case("chunked body", "POST", route, raw=b'{"x": "' + b"y" * LIMIT + b'"}', sign=sign, chunked=True)


def webhook_cases(route: str, valid: dict[str, Any], sign: str) -> Iterator[Case]:
    for raw in (b'{"subject": ', b"not json", b"\xff\xfe", b'{"a": 1}{"b": 2}', b"[1, 2"):
        yield Case("malformed JSON", "POST", route, raw=raw, sign=sign)
    for wrong in ([], "text", 42, None, True):
        yield Case("wrong type (body)", "POST", route, body=wrong, sign=sign)
    yield from size_cases(route, sign)


def matrix() -> Iterator[Case]:
    yield from body_cases("/v1/tickets", TICKET)
    yield from size_cases("/v1/tickets")
    for bad in [*OUT_OF_RANGE, "2026-11-20T10:00:00", "yesterday", "2026-13-01T00:00:00Z"]:
        yield Case("out-of-range date", "POST", "/v1/tickets", body={**TICKET, "occurred_at": bad})
    for key, value in (
        ("customer", {**TICKET["customer"], "name": "a\u0000b"}),
        ("customer", {**TICKET["customer"], "extra": 1}),
        ("order", {**TICKET["order"], "total": "1.005"}),
        ("order", {**TICKET["order"], "currency": "JPY", "shipping": "10.5"}),
        ("tags", ["ok", "bad\u0000"]),
    ):
        yield Case("nested", "POST", "/v1/tickets", body={**TICKET, key: value})

    yield from webhook_cases("/v1/webhooks/jira", jira_body(), sign="jira")
    for stamp in (10**18, -(10**18), 2**63, -(2**63)):
        yield Case("out-of-range timestamp", "POST", "/v1/webhooks/jira", body=jira_body(timestamp=stamp), sign="jira")
    jira = jira_body()
    jira["issue"]["fields"]["summary"] = "a\u0000b"
    yield Case("control character", "POST", "/v1/webhooks/jira", body=jira, sign="jira")

    yield from webhook_cases("/v1/webhooks/zendesk", zendesk_body(), sign="zendesk")
    for key in ("subject", "description"):
        for control in CONTROL:
            yield Case(
                "control character",
                "POST",
                "/v1/webhooks/zendesk",
                body=zendesk_body(**{key: f"a{control}b"}),
                sign="zendesk",
            )
    for bad in OUT_OF_RANGE:
        yield Case(
            "out-of-range date", "POST", "/v1/webhooks/zendesk", body=zendesk_body(updated_at=bad), sign="zendesk"
        )
        raw = json.dumps(zendesk_body()).encode()
        yield Case(
            "out-of-range timestamp",
            "POST",
            "/v1/webhooks/zendesk",
            raw=raw,
            headers={**zendesk_headers(raw, stamp=bad)},
        )
    yield Case("unknown source", "POST", "/v1/webhooks/nope", body={})
    yield from proactive_cases()

    for step, valid in STEP_BODIES.items():
        yield from body_cases(f"/v1/complaints/{CASE}/{step}", valid)
        yield from size_cases(f"/v1/complaints/{CASE}/{step}")
    offer = f"/v1/complaints/{CASE}/offer"
    yield from body_cases(offer, OFFER, epoch_times=("choose_by",))
    yield from size_cases(offer)
    refund = OFFER["options"][0]
    for bad_offer in (
        {"options": [refund]},
        {"options": [refund] * 5},
        {"default": 3},
        {"default": 0},
        {"options": [refund, {"kind": "none"}]},
        {"options": [refund, {"kind": "coupon"}]},
        {"options": [refund, {"kind": "gift", "amount": {"amount": "-5", "currency": "USD"}}]},
        {"options": [refund, {"kind": "upgrade", "label": "x" * 201}]},
        {"options": [refund, {"kind": "upgrade", "label": "a\u0007b"}]},
        {"choose_by": "2026-12-20T10:00:00"},
        {"choose_by": "next week"},
        *({"choose_by": bad} for bad in OUT_OF_RANGE),
    ):
        yield Case("bad offer", "POST", offer, body={**OFFER, **bad_offer})
    for bad_case in ("%00", "a%07b", "%1b%5b31m", "x" * 300, "..", "-leading"):
        yield Case("bad case id", "POST", f"/v1/complaints/{bad_case}/acknowledge", body={"message": "x"})
        yield Case("bad case id", "GET", f"/v1/complaints/{bad_case}")

    for params in (
        {"step": "nope"},
        {"severity": 3},
        {"escalated": "maybe"},
        {"customer": "a\u0000b"},
        {"customer": "x" * 300},
        {"page_size": "0"},
        {"page_size": "100000"},
        {"page_size": "1e3"},
        {"page_token": "%%%"},
        {"page_token": "not base64!"},
    ):
        yield Case("bad query", "GET", "/v1/complaints", params={k: str(v) for k, v in params.items()})
    simulation = {"policy": default_policy_text(), "since": "2026-11-01T00:00:00Z", "until": "2026-12-01T00:00:00Z"}
    yield from body_cases("/v1/policy/simulations", simulation, epoch_times=("since", "until"))
    yield from size_cases("/v1/policy/simulations")
    for key in ("since", "until"):
        for bad in OUT_OF_RANGE:
            yield Case("bad report window", "POST", "/v1/policy/simulations", body={**simulation, key: bad})
    yield Case(
        "bad report window",
        "POST",
        "/v1/policy/simulations",
        body={**simulation, "since": "2026-12-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
    )
    yield Case("bad policy", "POST", "/v1/policy/simulations", body={**simulation, "policy": "name = 3"})
    windows = [
        {"since": OUT_OF_RANGE[0]},
        {"until": OUT_OF_RANGE[1]},
        {"since": "tomorrow"},
        {"until": "tomorrow"},
        {"since": "2026-12-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
        {"since": "\u0000"},
    ]
    causes = [{"since": "0001-01-02T00:00:00Z", "until": "9999-01-01T00:00:00Z"}, {"weeks": "0"}, {"weeks": "521"}]
    for path, more in (("sla", [{"top": "-1"}, {"top": "1000"}]), ("causes", causes), ("proactive", [])):
        for params in [*windows, *more]:  # causes: the first has no period before it
            yield Case("bad report window", "GET", f"/v1/reports/{path}", params=params)
    yield from prevention_cases()


def proactive_cases() -> Iterator[Case]:
    """Stripe's events and the order feed (tests/starter/test_proactive_input.py: their field matrix)."""
    yield from webhook_cases("/v1/webhooks/stripe", {}, sign="stripe")
    yield from body_cases("/v1/webhooks/orders", proactive.ORDER, sign="orders", epoch_times=("occurred_at",))
    yield from size_cases("/v1/webhooks/orders", sign="orders")
    for kind, route, body, headers in proactive.bad_requests(OUT_OF_RANGE, CONTROL):
        yield Case(kind, "POST", route, body=body, headers=headers, sign=None if headers else route.rsplit("/")[-1])


async def send(http: httpx.AsyncClient, case: Case) -> httpx.Response:
    content: Any = case.raw
    if case.chunked and case.raw is not None:
        raw = case.raw

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(raw), 512):
                yield raw[start : start + 512]

        content = chunks()
    request = http.build_request(case.method, case.path, content=content, headers=case.headers, params=case.params)
    return await asyncio.wait_for(http.send(request), 20)


async def test_every_route_refuses_every_bad_input_with_a_4xx(api: httpx.AsyncClient) -> None:
    cases = list(matrix())
    failures = []
    for case in cases:
        response = await send(api, case)
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else None
        if not (400 <= response.status_code < 500 and isinstance(body, dict) and set(body) == {"error", "detail"}):
            failures.append(f"{case!r} -> {response.status_code} {response.text[:200]}")
        expected = {
            "huge body": 413,
            "chunked body": 413,
            "bad report window": 422,  # issue 15.7, 15.5
            "bad offer": 422,
            "out-of-range timestamp": 422 if "jira" in case.path else 401,
        }.get(case.kind)  # 15.6
        if expected is not None and response.status_code != expected:
            failures.append(f"{case!r} -> {response.status_code}, expected {expected}")
    assert not failures, "\n".join(failures[:40]) + f"\n({len(failures)} of {len(cases)})"

    # Every route of the app is in the matrix (a new route must join it); /healthz takes no input.
    # From the OpenAPI paths: FastAPI nests included routers, app.routes doesn't list them flat.
    app = api.app  # type: ignore[attr-defined]
    missing = []
    for template, operations in app.openapi()["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$")
        for method in operations:
            if template != "/healthz" and not any(c.method == method.upper() and pattern.match(c.path) for c in cases):
                missing.append(f"{method.upper()} {template}")
    assert not missing, missing


async def test_reports_answer_503_with_postgresql_down(api: httpx.AsyncClient) -> None:
    """Issue 15.5: the documented 503, not a 500."""
    for path in ("/v1/reports/sla", "/v1/reports/causes", "/v1/reports/proactive"):
        response = await api.get(path, headers=ALICE)
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "unavailable" and "PostgreSQL" in response.json()["detail"]


@pytest.fixture
def real_server(client: Client) -> Iterator[str]:
    """The API on a real uvicorn server (HTTP/1.1 keep-alive, chunked bodies), with one route that fails."""

    async def connect() -> Client:
        return client

    app = create_app(settings(down_database), connect)

    async def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/test/boom", boom)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def exchange(sock: socket.socket, request: bytes) -> tuple[int, bytes]:
    """One HTTP/1.1 request on an open connection; the status and body of its response."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before a response"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        rest += chunk
    return int(head.split()[1]), rest[:length]


def test_a_500_keeps_the_connection_and_chunked_bodies_get_413_on_a_real_server(real_server: str) -> None:
    """Issue 15.5 (keep-alive after a 500) and 15.7 (chunked over the limit: 413 on JSON routes too)."""
    host, port = real_server.split(":")
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        status, body = exchange(sock, b"GET /test/boom HTTP/1.1\r\nHost: api\r\n\r\n")
        assert status == 500 and json.loads(body)["error"] == "internal"
        status, body = exchange(
            sock, b"GET /v1/reports/sla HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer dev-alice-0123456789\r\n\r\n"
        )
        assert status == 503, body  # same connection: the 500 did not close it
    for route in ("/v1/tickets", f"/v1/complaints/{CASE}/fix", "/v1/webhooks/jira"):
        payload = b'{"description": "' + b"y" * (2 * LIMIT) + b'"}'
        chunks = (
            b"".join(
                b"%x\r\n%s\r\n" % (len(payload[i : i + 1000]), payload[i : i + 1000])
                for i in range(0, len(payload), 1000)
            )
            + b"0\r\n\r\n"
        )
        with socket.create_connection((host, int(port)), timeout=20) as sock:
            status, body = exchange(
                sock,
                f"POST {route} HTTP/1.1\r\nHost: api\r\n".encode()
                + b"Authorization: Bearer dev-alice-0123456789\r\nContent-Type: application/json\r\n"
                + b"Transfer-Encoding: chunked\r\n\r\n"
                + chunks,
            )
        assert status == 413, (route, body)
        assert json.loads(body)["error"] == "too_large"

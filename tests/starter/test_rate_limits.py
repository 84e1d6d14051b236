"""Rate limits (docs/ops.md, "Rate limits"): per bearer token, per intake source and failed sign-ins
per client address. For each: traffic up to the limit is never refused, the next request gets 429
with Retry-After (JSON for the API, a page for the console), another key is unaffected, and once the
window has passed it is accepted again. The app is the real one; its rate-limit clock is a fake."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from temporalio.client import Client

from starter.agents import load_agents
from starter.api import ApiSettings, create_app
from starter.intake import IntakeConfig, IntakeConfigError, JiraConfig, RateLimits, parse_intake_config, sign_jira
from tests.helpers import fast_policy

ROOT = Path(__file__).resolve().parents[2]
ALICE_TOKEN, BOB_TOKEN = "dev-alice-0123456789", "dev-bob-0123456789ab"
ALICE, BOB = {"Authorization": f"Bearer {ALICE_TOKEN}"}, {"Authorization": f"Bearer {BOB_TOKEN}"}
INTAKE = {"Authorization": "Bearer dev-intake-012345678"}
JIRA_SECRET = "jira-secret-0123"
HTML = {"Accept": "text/html"}
CASE = "/v1/complaints/cust-limits:ord-1"
TICKET: dict[str, Any] = {
    "source": "generic",
    "event_id": "evt-limits",
    "ticket_id": "T-limits",
    "customer": {"id": "cust-limits", "name": "Dana Example", "email": "dana@example.com"},
    "order": {"id": "ord-1", "currency": "USD", "total": "88.00", "shipping": "9.00"},
    "subject": "Glass arrived broken",
    "occurred_at": "2026-11-20T10:00:00+00:00",
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def no_temporal() -> Client:
    raise ConnectionError("this test has no Temporal")  # routes that reach it answer 503: not refused


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_client(clock: Clock) -> Any:
    """`make_client(limits, address)`: a client of one app per `limits`, from the client address."""
    apps: dict[int, Any] = {}

    @asynccontextmanager
    async def client(limits: RateLimits, address: str = "10.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
        if id(limits) not in apps:
            settings = ApiSettings(
                agents=load_agents(str(ROOT / "starter" / "dev_agents.toml")),
                intake=IntakeConfig(rate_limits=limits, jira=JiraConfig(secrets=[JIRA_SECRET])),
                policy=fast_policy(),
                task_queue="no-worker-on-this-queue",
                timer=clock,
            )
            apps[id(limits)] = create_app(settings, no_temporal)
        transport = httpx.ASGITransport(app=apps[id(limits)], client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            yield http

    return client


def assert_limited_json(response: httpx.Response, retry_after: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["retry-after"] == str(retry_after)
    body = response.json()
    assert set(body) == {"error", "detail"} and body["error"] == "rate_limited", body


async def test_the_api_allows_a_token_its_limit_per_minute_then_429(clock: Clock, make_client: Any) -> None:
    limits = RateLimits(api_per_token=5)
    async with make_client(limits) as http:
        for _ in range(5):
            clock.now += 1
            assert (await http.get(CASE, headers=ALICE)).status_code != 429
        limited = await http.get(CASE, headers=ALICE)
        assert_limited_json(limited, retry_after=56)  # the first of the five leaves the window at 1061
        assert "token" in limited.json()["detail"]
        assert (await http.get(CASE, headers=BOB)).status_code != 429  # another token: its own count
        assert (await http.get("/v1/complaints", headers=BOB)).status_code != 429
        clock.now += 55.5
        assert_limited_json(await http.get(CASE, headers=ALICE), retry_after=1)
        clock.now += 0.5  # the first request has left the window: one more is allowed, not two
        assert (await http.get(CASE, headers=ALICE)).status_code != 429
        assert (await http.get(CASE, headers=ALICE)).status_code == 429
        clock.now += 60
        for _ in range(5):
            assert (await http.get(CASE, headers=ALICE)).status_code != 429
    async with make_client(limits, "10.0.0.2") as other:  # the token, not the address, is counted
        assert (await other.get(CASE, headers=ALICE)).status_code == 429


async def test_the_api_limit_counts_every_route_a_token_calls(clock: Clock, make_client: Any) -> None:
    async with make_client(RateLimits(api_per_token=3)) as http:
        assert (await http.post("/v1/tickets", json=TICKET, headers=ALICE)).status_code != 429
        assert (await http.get(CASE, headers=ALICE)).status_code != 429
        assert (await http.get("/v1/nowhere", headers=ALICE)).status_code == 404
        assert_limited_json(await http.post(f"{CASE}/acknowledge", json={"message": "Sorry"}, headers=ALICE), 60)
        assert (await http.get("/healthz")).status_code != 429  # no token: not counted


async def test_each_intake_source_has_its_own_limit_per_minute(clock: Clock, make_client: Any) -> None:
    limits = RateLimits(webhooks_per_source=4, sources={"jira": 2})
    jira_body = json.dumps({"webhookEvent": "jira:issue_updated"}).encode()
    jira = {"X-Hub-Signature": sign_jira(JIRA_SECRET, jira_body), "Content-Type": "application/json"}
    async with make_client(limits) as http:
        tokens = [INTAKE, ALICE, BOB, INTAKE]  # per source, whoever sends
        for headers in tokens:
            assert (await http.post("/v1/tickets", json=TICKET, headers=headers)).status_code != 429
        limited = await http.post("/v1/tickets", json=TICKET, headers=INTAKE)
        assert_limited_json(limited, retry_after=60)
        assert "tickets deliveries" in limited.json()["detail"]
        for _ in range(2):  # jira: its own limit, untouched by the tickets
            assert (await http.post("/v1/webhooks/jira", content=jira_body, headers=jira)).status_code != 429
        assert_limited_json(await http.post("/v1/webhooks/jira", content=jira_body, headers=jira), 60)
        clock.now += 60
        assert (await http.post("/v1/tickets", json=TICKET, headers=INTAKE)).status_code != 429
        assert (await http.post("/v1/webhooks/jira", content=jira_body, headers=jira)).status_code != 429


async def test_refused_signatures_do_not_use_up_a_sources_limit(clock: Clock, make_client: Any) -> None:
    """A stranger posting unsigned bodies gets 401 each time and leaves the real sender's limit alone."""
    body = json.dumps({"webhookEvent": "jira:issue_updated"}).encode()
    async with make_client(RateLimits(webhooks_per_source=2)) as http:
        for _ in range(10):
            forged = await http.post("/v1/webhooks/jira", content=body, headers={"X-Hub-Signature": "sha256=00"})
            assert forged.status_code == 401, forged.text
        signed = {"X-Hub-Signature": sign_jira(JIRA_SECRET, body)}
        for _ in range(2):
            assert (await http.post("/v1/webhooks/jira", content=body, headers=signed)).status_code != 429
        assert (await http.post("/v1/webhooks/jira", content=body, headers=signed)).status_code == 429
        assert (await http.post("/v1/webhooks/zendesk", content=body)).status_code == 404  # not configured


async def sign_in(http: httpx.AsyncClient, token: str) -> httpx.Response:
    form = await http.get("/login", headers=HTML)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None, form.text
    return await http.post("/login", data={"csrf": csrf.group(1), "token": token, "next": "/"}, headers=HTML)


def assert_limited_page(response: httpx.Response, retry_after: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["retry-after"] == str(retry_after)
    assert "Too many sign-in attempts" in response.text and "recovery_session" not in response.headers.get(
        "set-cookie", ""
    )


async def test_ten_failed_sign_ins_lock_the_address_out_for_a_minute(clock: Clock, make_client: Any) -> None:
    limits = RateLimits()  # the default: 10 failures per address per minute
    async with make_client(limits, "10.0.0.1") as http:
        for _ in range(10):
            clock.now += 1
            assert (await sign_in(http, "not-a-token")).status_code == 401
        assert_limited_page(await sign_in(http, "not-a-token"), retry_after=51)
        assert_limited_page(await sign_in(http, ALICE_TOKEN), retry_after=51)  # even the right token
        assert (await http.get("/login", headers=HTML)).status_code == 200  # the form itself is served
        async with make_client(limits, "10.0.0.2") as other:  # another address signs in
            assert (await sign_in(other, ALICE_TOKEN)).status_code == 303
        clock.now += 51
        assert (await sign_in(http, ALICE_TOKEN)).status_code == 303


async def test_successful_sign_ins_and_refused_roles_do_not_count(clock: Clock, make_client: Any) -> None:
    async with make_client(RateLimits(sign_in_failures_per_address=2)) as http:
        for _ in range(5):
            assert (await sign_in(http, ALICE_TOKEN)).status_code == 303
            assert (await sign_in(http, "dev-intake-012345678")).status_code == 403  # right token, wrong role
        assert (await sign_in(http, "wrong-1")).status_code == 401
        assert (await sign_in(http, "wrong-2")).status_code == 401
        assert_limited_page(await sign_in(http, ALICE_TOKEN), retry_after=60)
        clock.now += 59.9
        assert_limited_page(await sign_in(http, ALICE_TOKEN), retry_after=1)
        clock.now += 0.1
        assert (await sign_in(http, ALICE_TOKEN)).status_code == 303


async def test_failed_sign_ins_sent_at_once_get_no_more_than_the_limit(clock: Clock, make_client: Any) -> None:
    async with make_client(RateLimits(sign_in_failures_per_address=10)) as http:
        form = await http.get("/login", headers=HTML)
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        form_body = urlencode({"csrf": csrf.group(1), "token": "guess", "next": "/"}).encode()
        headers = {**HTML, "Content-Type": "application/x-www-form-urlencoded"}

        async def slowly() -> AsyncIterator[bytes]:  # the sign-ins overlap while their bodies arrive
            await asyncio.sleep(0.01)
            yield form_body

        answers = await asyncio.gather(*(http.post("/login", content=slowly(), headers=headers) for _ in range(30)))
        assert sorted(a.status_code for a in answers) == [401] * 10 + [429] * 20


def test_limits_are_read_from_the_intake_file() -> None:
    config = parse_intake_config(
        "[rate_limits]\napi_per_token = 100\nsign_in_failures_per_address = 5\n[rate_limits.sources]\nzendesk = 30\n"
    )
    assert config.rate_limits == RateLimits(api_per_token=100, sign_in_failures_per_address=5, sources={"zendesk": 30})
    assert IntakeConfig().rate_limits == RateLimits(
        window_seconds=60, api_per_token=6000, webhooks_per_source=6000, sign_in_failures_per_address=10
    )
    with pytest.raises(IntakeConfigError, match=r"rate_limits\.api_per_token"):
        parse_intake_config("[rate_limits]\napi_per_token = 0\n", "intake.toml")
    with pytest.raises(IntakeConfigError, match=r"rate_limits\.sources\.slack"):
        parse_intake_config("[rate_limits.sources]\nslack = 5\n", "intake.toml")

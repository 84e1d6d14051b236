"""While PostgreSQL is unreachable the console answers a 503 page and the API 503 JSON within 2 s (a
bounded connect and a breaker), a console step whose session cannot be checked is refused, one that
was applied before the database went says so, and all is well once the database is back."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from activities.notifications import Notifier
from activities.store import create_pool
from console import readmodel
from starter.agents import load_agents
from starter.api import ApiSettings, create_app
from starter.api.outage import CONNECT_TIMEOUT, COOLDOWN
from starter.cases import status
from starter.intake import IntakeConfig
from tests.helpers import WebhookReceiver, eventually, fast_policy
from tests.tcp_proxy import DatabaseProxy
from worker import build_worker

ROOT = Path(__file__).resolve().parents[2]
INTAKE = {"Authorization": "Bearer dev-intake-012345678"}
ALICE_TOKEN = "dev-alice-0123456789"
HTML = {"Accept": "text/html"}
BOUND = 2.0


@pytest.fixture
async def proxy(db_url: str) -> AsyncIterator[DatabaseProxy]:
    proxy = DatabaseProxy(db_url)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture
async def api(proxy: DatabaseProxy, client: Client, task_queue: str) -> AsyncIterator[httpx.AsyncClient]:
    pools: list[asyncpg.Pool] = []

    async def database() -> asyncpg.Pool:  # as settings_from_env: made on first use, kept
        if not pools:
            pools.append(await create_pool(proxy.url, max_size=4, connect_timeout=CONNECT_TIMEOUT))
        return pools[0]

    settings = ApiSettings(
        agents=load_agents(str(ROOT / "starter" / "dev_agents.toml")),
        intake=IntakeConfig(),
        policy=fast_policy(),
        task_queue=task_queue,
        database=database,
    )

    async def connect() -> Client:
        return client

    app = create_app(settings, connect)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        yield http
    for pool in pools:
        pool.terminate()


async def sign_in(http: httpx.AsyncClient) -> None:
    form = await http.get("/login", headers=HTML)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None, form.text
    signed = await http.post("/login", data={"csrf": csrf.group(1), "token": ALICE_TOKEN, "next": "/"})
    assert signed.status_code == 303, signed.text


async def timed(request: Any) -> tuple[httpx.Response, float]:
    began = time.monotonic()
    response = await request
    return response, time.monotonic() - began


def ticket(customer: str) -> dict[str, Any]:
    return {
        "source": "generic",
        "event_id": f"evt-{uuid.uuid4().hex[:8]}",
        "ticket_id": f"T-{uuid.uuid4().hex[:8]}",
        "customer": {"id": customer, "name": "Dana Example", "email": "dana@example.com"},
        "order": {"id": "ord-1", "currency": "USD", "total": "120.00", "shipping": "10.00"},
        "subject": "Glass arrived broken",
        "occurred_at": "2026-11-20T10:00:00+00:00",
    }


async def test_pages_and_the_api_answer_503_within_2_s_while_the_database_is_down(
    api: httpx.AsyncClient,
    proxy: DatabaseProxy,
    client: Client,
    task_queue: str,
    db: asyncpg.Pool,
    receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with build_worker(client, pool=db, queue=task_queue, notifier=Notifier(receiver.url)):
        opened = await api.post("/v1/tickets", json=ticket(f"down-{uuid.uuid4().hex[:6]}"), headers=INTAKE)
        assert opened.status_code == 202, opened.text
        case = opened.json()["case_id"]
        await sign_in(api)
        page = await api.get(f"/cases/{case}", headers=HTML)
        assert page.status_code == 200
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None

        await proxy.cut()
        for path in (
            "/",
            f"/cases/{case}",
            "/reports",
            "/reports/csat",
            "/prevention",
            "/prevention/new?cause=wrong-item",
        ):
            for _ in range(2):  # the first meets the dead connection, the second the open breaker
                answer, took = await timed(api.get(path, headers=HTML))
                assert answer.status_code == 503, (path, answer.status_code, answer.text[:300])
                assert answer.headers["content-type"].startswith("text/html")
                assert "Temporarily unavailable" in answer.text and "Traceback" not in answer.text
                assert took < BOUND, (path, took)
        for path in ("/v1/reports/sla", "/v1/reports/sla?format=json"):
            answer, took = await timed(api.get(path, headers={"Authorization": f"Bearer {ALICE_TOKEN}"}))
            assert answer.status_code == 503, (path, answer.text)
            assert answer.json()["error"] in ("database_unavailable", "unavailable") and took < BOUND
            assert answer.headers.get("retry-after")

        # A console step needs its session checked in the database first: refused, and nothing done.
        step = {"csrf": csrf.group(1), "message": "Sorry"}
        refused = await api.post(f"/cases/{case}/steps/acknowledge", data=step)
        assert refused.status_code == 503 and "Temporarily unavailable" in refused.text, refused.text[:400]
        before = (await status(client, case)).step.value
        assert before != "fix"

        await proxy.restore()

        async def back() -> bool:
            return (await api.get(f"/cases/{case}", headers=HTML)).status_code == 200

        await eventually(back, timeout=COOLDOWN + 10, interval=0.5)

        # The database lost after the step was applied in Temporal: its page says so rather than fail.
        async def lost(*_: Any, **__: Any) -> bool:
            raise ConnectionResetError("connection lost")

        monkeypatch.setattr(readmodel, "wait_for_seq", lost)
        stepped = await api.post(f"/cases/{case}/steps/acknowledge", data=step)
        assert stepped.status_code == 503 and "was recorded" in stepped.text, stepped.text[:400]
        assert (await status(client, case)).step.value == "fix"

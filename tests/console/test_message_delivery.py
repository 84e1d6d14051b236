"""The case page shows each message to the customer as sending… until its delivery is recorded in the
timeline, then sent (by which channels) or failed (with the reason): the agent's step is accepted at
once, the delivery goes on beside the case (the dev server, PostgreSQL, an SMTP server)."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from activities.channels.email import SmtpConfig
from activities.notifications import Notifier
from starter.agents import load_agents
from starter.api import ApiSettings, create_app
from starter.intake import IntakeConfig
from tests.fakes.smtp import SmtpServer
from tests.helpers import WebhookReceiver, eventually, fast_policy
from tests.starter.test_database_outage import HTML, INTAKE, ROOT, sign_in, ticket
from worker import build_worker
from workflows.models import case_id_of
from workflows.policy import NotificationPolicy, Policy

MESSAGE = re.compile(
    r'<article class="message[^"]*" data-message="([^"]+)" data-delivery="(\w+)">(.*?)</article>', re.S
)


def email_policy() -> Policy:
    policy = fast_policy()
    notifications = NotificationPolicy(channel="email", sender="Shop Care <care@shop.example>")
    return policy.model_copy(update={"notifications": notifications})


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.close()


@pytest.fixture
async def api(db: asyncpg.Pool, client: Client, task_queue: str) -> AsyncIterator[httpx.AsyncClient]:
    async def database() -> asyncpg.Pool:
        return db

    async def connect() -> Client:
        return client

    settings = ApiSettings(
        agents=load_agents(str(ROOT / "starter" / "dev_agents.toml")),
        intake=IntakeConfig(),
        policy=email_policy(),
        task_queue=task_queue,
        database=database,
    )
    app = create_app(settings, connect)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        yield http


async def acknowledged_case(api: httpx.AsyncClient, customer: str) -> str:
    opened = await api.post("/v1/tickets", json=ticket(customer), headers=INTAKE)
    assert opened.status_code == 202, opened.text
    case = opened.json()["case_id"]
    await sign_in(api)
    page = await api.get(f"/cases/{case}", headers=HTML)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert page.status_code == 200 and csrf is not None, page.text[:400]
    stepped = await api.post(f"/cases/{case}/steps/acknowledge", data={"csrf": csrf.group(1), "message": "Sorry"})
    assert stepped.status_code in (200, 303), stepped.text[:400]
    return str(case)


async def messages(api: httpx.AsyncClient, case: str) -> list[tuple[str, str, str]]:
    page = await api.get(f"/cases/{case}", headers=HTML)
    assert page.status_code == 200, page.text[:400]
    return MESSAGE.findall(page.text)


def workflow_of(key: str) -> str:
    return key.rsplit(":", 2)[0]


async def test_the_apology_shows_sending_until_smtp_is_back_then_sent(
    api: httpx.AsyncClient,
    client: Client,
    task_queue: str,
    db: asyncpg.Pool,
    smtp: SmtpServer,
    receiver: WebhookReceiver,
) -> None:
    smtp.stop()  # down before the apology is sent: the step is accepted, the delivery retried
    notifier = Notifier(receiver.url, smtp=SmtpConfig.from_url(smtp.url, "care@shop.example"), pool=db)
    async with build_worker(client, pool=db, queue=task_queue, notifier=notifier):
        case = await acknowledged_case(api, f"pending-{uuid.uuid4().hex[:6]}")

        async def pending() -> list[tuple[str, str, str]]:
            return [m for m in await messages(api, case) if m[1] == "pending"]

        ((key, _, body),) = await eventually(pending, timeout=30, interval=0.3)
        assert "sending…" in body and "queued" in body, body
        assert re.fullmatch(r".+:\d+:\d+", key) and case_id_of(workflow_of(key)) == case, key
        await asyncio.sleep(2)  # still being retried: still sending…
        assert [m[1] for m in await messages(api, case)] == ["pending"]
        assert smtp.to("dana@example.com") == []

        smtp.start()

        async def sent() -> list[tuple[str, str, str]]:
            return [m for m in await messages(api, case) if m[0] == key and m[1] == "sent"]

        ((_, _, body),) = await eventually(sent, timeout=90, interval=0.5)
        assert re.search(r">sent</span> .* by email", body), body
        assert "sending…" not in body
    assert len(smtp.to("dana@example.com")) == 1
    recorded = await db.fetch(
        "SELECT type, data->>'key' AS key FROM events WHERE type IN ('notified', 'notification_failed') "
        "AND data->>'template' = 'acknowledgement' AND workflow_id = $1",
        workflow_of(key),
    )
    assert [(r["type"], r["key"]) for r in recorded] == [("notified", key)]  # the same key as the message's


async def test_an_apology_the_mail_server_refuses_shows_failed_with_the_reason(
    api: httpx.AsyncClient,
    client: Client,
    task_queue: str,
    db: asyncpg.Pool,
    smtp: SmtpServer,
    receiver: WebhookReceiver,
) -> None:
    smtp.reject_with = "550 5.1.1 mailbox unavailable"  # permanent: not retried
    notifier = Notifier(receiver.url, smtp=SmtpConfig.from_url(smtp.url, "care@shop.example"), pool=db)
    async with build_worker(client, pool=db, queue=task_queue, notifier=notifier):
        case = await acknowledged_case(api, f"refused-{uuid.uuid4().hex[:6]}")

        async def failed() -> list[tuple[str, str, str]]:
            return [m for m in await messages(api, case) if m[1] == "failed"]

        ((key, _, body),) = await eventually(failed, timeout=30, interval=0.3)
        assert ">failed</span>" in body and "550 5.1.1 mailbox unavailable" in body, body
        assert "email" in body and case_id_of(workflow_of(key)) == case
    assert smtp.to("dana@example.com") == []

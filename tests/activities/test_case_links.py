"""The case link in customer messages (activities/case_links.py): on the email (text and HTML) and
on public ticket comments, never on internal notes or staff messages; a message whose case is not
in the store yet goes out without one. And the page's rate limits (starter/customer/page.py).
Real PostgreSQL, a real SMTP server on loopback and the loopback Zendesk fake."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

import starter.customer
from activities.case_links import CaseLinker
from activities.channels.email import SmtpConfig
from activities.channels.tickets import ZendeskClient
from activities.notifications import Notifier
from recovery.links import Links
from starter.customer.page import Limiter
from tests.fakes.smtp import SmtpServer
from tests.fakes.zendesk import FakeZendesk
from workflows.effects import Delivery, Notification, NotifyContext

PUBLIC = "https://care.shop.example"
KEYS = [("k1", b"case-link-test-secret-0")]
WORKFLOW = "complaint-zd-user-5:ord-5"
LINK = re.compile(r"See your case: (https://care\.shop\.example/c/[A-Za-z0-9_-]+)")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.close()


@pytest.fixture
def zendesk() -> Iterator[FakeZendesk]:
    fake = FakeZendesk()
    yield fake
    fake.close()


def note(key: str, audience: str = "customer", workflow_id: str = WORKFLOW) -> Notification:
    ctx = NotifyContext(
        at=datetime.now(timezone.utc),
        customer_email="dana@example.com",
        ticket_source="zendesk",
        ticket_id="5005",
        channel="both",
        severity="normal",
    )
    return Notification(
        key=key,
        case_id=workflow_id.removeprefix("complaint-"),
        workflow_id=workflow_id,
        audience=audience,  # type: ignore[arg-type]
        recipient="customer" if audience == "customer" else "team-lead",
        template="acknowledgement" if audience == "customer" else "warning",
        params={"customer": "Dana Example", "subject": "Mug chipped", "message": "Sorry.", "fix_due": "soon"},
        context=ctx,
    )


async def opened(db: asyncpg.Pool, workflow_id: str, customer_id: str) -> None:
    await db.execute(
        "INSERT INTO events (workflow_id, seq, case_id, type, at, actor, data) VALUES ($1, 1, $2, 'opened', now(), "
        "'engine', $3::jsonb)",
        workflow_id,
        workflow_id.removeprefix("complaint-"),
        json.dumps({"customer_id": customer_id}),
    )


async def test_customer_emails_and_public_comments_carry_the_case_link(
    db: asyncpg.Pool, smtp: SmtpServer, zendesk: FakeZendesk
) -> None:
    zendesk.add_ticket("5005")
    links = Links(KEYS)
    notifier = Notifier(
        smtp=SmtpConfig.from_url(smtp.url, "care@shop.example"),
        zendesk=ZendeskClient(zendesk.url, zendesk.email, zendesk.token),
        pool=db,
        links=CaseLinker(PUBLIC + "/", links),
    )
    await opened(db, WORKFLOW, "zd-user-5")
    customer = note(f"{WORKFLOW}:2:0")
    await notifier.deliver(Delivery(key=customer.key, channel="email", address="dana@example.com", note=customer))
    await notifier.deliver(Delivery(key=f"{customer.key}:ticket", channel="zendesk", address="5005", note=customer))
    internal = note(f"{WORKFLOW}:3:0", audience="internal")
    await notifier.deliver(
        Delivery(key=f"{internal.key}:note", channel="zendesk", address="5005", internal=True, note=internal)
    )

    (mail,) = smtp.to("dana@example.com")
    text = mail.get_body(("plain",)).get_content()
    found = LINK.search(text)
    assert found and text.rstrip().endswith(found.group(1)), text
    assert f'<a href="{found.group(1)}">' in mail.get_body(("html",)).get_content()
    (comment,) = zendesk.comments("5005", public=True)
    assert f"See your case: {found.group(1)}" in comment["body"]  # one link per message, on both channels
    (internal_note,) = zendesk.comments("5005", public=False)
    assert "See your case" not in internal_note["body"]

    token = found.group(1).rsplit("/", 1)[1]
    link = await links.resolve(db, token)
    assert link is not None and (link.workflow_id, link.customer_id) == (WORKFLOW, "zd-user-5")
    assert await db.fetchval("SELECT count(*) FROM customer_links") == 1

    # A case the store does not know yet: the message goes out, without a link
    other = note("complaint-zd-user-6:ord-6:2:0", workflow_id="complaint-zd-user-6:ord-6")
    await notifier.deliver(Delivery(key=other.key, channel="email", address="sam@example.com", note=other))
    (late,) = smtp.to("sam@example.com")
    assert "See your case" not in late.get_body(("plain",)).get_content()


async def test_the_case_page_is_rate_limited_per_link_and_per_address(db: asyncpg.Pool) -> None:
    now = [1000.0]
    links = Links(KEYS)

    async def database() -> asyncpg.Pool:
        return db

    app = FastAPI()
    settings = SimpleNamespace(database=database, links=links, timer=lambda: now[0])
    starter.customer.install(app, settings, Limiter(lambda: now[0], per_link=2, per_address=3))
    expired = Links(KEYS, timedelta(days=1), clock=lambda: datetime.now(timezone.utc) - timedelta(days=3))
    token = await expired.issue(db, "k-expired", WORKFLOW, "zd-user-5")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://page") as http:
        assert [(await http.get(f"/c/{token}")).status_code for _ in range(2)] == [404, 404]
        limited = await http.get(f"/c/{token}/status.json")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) == 60
        assert (await http.get("/c/another-token")).status_code == 404  # the address's third
        refused = await http.get("/c/yet-another-token")
        assert refused.status_code == 429 and "Retry-After" in refused.headers
        now[0] += 61
        assert (await http.get(f"/c/{token}")).status_code == 404  # the window moved on

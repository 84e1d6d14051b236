"""The customer's case page in a real browser, on the real stack: the dev server, a fresh PostgreSQL
database, a worker sending email to a real SMTP server on loopback (aiosmtpd), the API (with the
page) on uvicorn, and Debian's chromium driven by Playwright.

The customer gets the apology email; the test takes the link from it, opens the page at phone
width and sees the promise; the page follows the case without a reload; tampered, expired and
revoked links get the same 404 with no customer data; and no GET moves any case.

Screenshots (customer-page-phone.png at 390 px, customer-page-desktop.png at 1280 px) go to the
test's folder or $RECOVERY_SCREENSHOTS; RECOVERY_DOCS_SCREENSHOTS=1 refreshes docs/img/ too, as the
console's browser tests do.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from temporalio.client import Client

from activities.case_links import CaseLinker
from activities.channels.email import SmtpConfig
from activities.notifications import Notifier
from recovery.links import Links
from starter.agents import load_agents
from starter.api import ApiSettings, create_app
from starter.cases import open_case, run_step
from starter.intake import IntakeConfig
from tests.console.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.fakes.smtp import SmtpServer
from tests.helpers import AGENT, eventually, fast_policy, free_port, ticket
from worker import build_worker
from workflows.complaint import ComplaintWorkflow
from workflows.models import AcknowledgeInput, FixInput
from workflows.policy import NotificationPolicy, Policy

ROOT = Path(__file__).resolve().parents[2]
KEYS = [("k1", b"case-page-test-secret-01")]
LINK = re.compile(r"See your case: (http://127\.0\.0\.1:\d+/c/[A-Za-z0-9_-]+)")
PRIVATE = ("dana@example.com", "88.00", "9.00", "cust-page")
"""What the page never shows of its own: the email, the order's total and shipping, the customer id
(the messages as sent name the case, whose key holds the customer id)."""


@dataclass
class Stack:
    url: str
    client: Client
    queue: str
    policy: Policy
    db: asyncpg.Pool
    smtp: SmtpServer
    links: Links


@pytest.fixture
async def stack(client: Client, db: asyncpg.Pool, db_url: str, task_queue: str) -> AsyncIterator[Stack]:
    smtp = SmtpServer()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    links = Links(KEYS, timedelta(days=30))
    policy = fast_policy(ack="1h", fix="2h", interval="1h").model_copy(
        update={"notifications": NotificationPolicy(channel="email", sender="Shop Care <care@shop.example>")}
    )

    # The API's own pool: a console page holds one of its connections for LISTEN until the process
    # ends, so it is terminated at the end (closing it would wait for that connection forever).
    api_pool = await asyncpg.create_pool(db_url, min_size=1, max_size=6)

    async def database() -> asyncpg.Pool:
        return api_pool

    async def connect() -> Client:
        return client

    settings = ApiSettings(
        agents=load_agents(str(ROOT / "starter" / "dev_agents.toml")),
        intake=IntakeConfig(),
        policy=policy,
        task_queue=task_queue,
        database=database,
        links=links,
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, connect), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    notifier = Notifier(smtp=SmtpConfig.from_url(smtp.url, "care@shop.example"), pool=db, links=CaseLinker(url, links))
    try:
        async with build_worker(client, pool=db, queue=task_queue, notifier=notifier):
            serving = asyncio.create_task(server.serve())
            while not server.started:
                assert not serving.done(), "the API did not start"
                await asyncio.sleep(0.05)
            try:
                yield Stack(url, client, task_queue, policy, db, smtp, links)
            finally:
                server.should_exit = True
                server.force_exit = True  # open event streams (a console page) would hold the shutdown
                await asyncio.wait_for(serving, 15)
    finally:
        smtp.close()
        api_pool.terminate()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


async def shot(page: Any, folder: Path, name: str) -> None:
    path = Path(os.environ.get("RECOVERY_SCREENSHOTS") or folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(path), full_page=True)
    if os.environ.get("RECOVERY_DOCS_SCREENSHOTS"):
        (ROOT / "docs" / "img").mkdir(exist_ok=True)
        shutil.copy(path, ROOT / "docs" / "img" / name)


async def seqs(db: asyncpg.Pool, workflow_id: str) -> tuple[Any, ...]:
    row = await db.fetchrow(
        "SELECT (SELECT last_seq FROM cases WHERE workflow_id = $1) AS c, "
        "(SELECT last_seq FROM case_status WHERE workflow_id = $1) AS s, "
        "(SELECT count(*) FROM events WHERE workflow_id = $1) AS e, "
        "(SELECT count(*) FROM customer_links) AS l, "
        "(SELECT max(coalesce(revoked_at, created_at)) FROM customer_links) AS r",
        workflow_id,
    )
    return tuple(row)


def tampered(token: str) -> str:
    return token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")


async def test_the_customer_opens_their_case_from_the_apology_email(stack: Stack, browser: Any, tmp_path: Path) -> None:
    from playwright.async_api import expect

    t = ticket("page", customer="cust-page", order="ord-page")
    opened = await open_case(stack.client, t, stack.policy, stack.queue)
    case, workflow_id = opened.case_id, f"complaint-{opened.case_id}"
    await run_step(
        stack.client,
        case,
        ComplaintWorkflow.acknowledge,
        AcknowledgeInput(actor=AGENT, message="A size M is being packed for you."),
    )

    async def apology() -> str:
        mails = [m for m in stack.smtp.to("dana@example.com") if m["Subject"].startswith("We're sorry")]
        assert mails, "no apology email yet"
        text = mails[0].get_body(("plain",)).get_content()
        html = mails[0].get_body(("html",)).get_content()
        found = LINK.search(text)
        assert found, text
        assert f'href="{found.group(1)}"' in html  # a link in the HTML part too
        return found.group(1)

    url = await eventually(apology, timeout=60)
    assert url.startswith(f"{stack.url}/c/")
    token = url.rsplit("/", 1)[1]
    assert "cust" not in token and "page" not in token

    # The promise in the read model, to compare with the page
    async def fix_due() -> datetime:
        snap = await stack.db.fetchval("SELECT status FROM case_status WHERE workflow_id = $1", workflow_id)
        status = json.loads(snap) if snap else {}
        assert status.get("step") == "fix", status.get("step")
        return datetime.fromisoformat(status["deadlines"]["due_at"])

    due = await eventually(fix_due)

    async def acknowledged_message() -> bool:
        sql = "SELECT count(*) FROM customer_messages WHERE workflow_id = $1"
        return bool(await stack.db.fetchval(sql, workflow_id))

    await eventually(acknowledged_message)

    phone = await browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    outside: list[str] = []
    phone.on("request", lambda r: outside.append(r.url) if not r.url.startswith(stack.url) else None)
    response = await phone.goto(url)
    assert response is not None and response.status == 200
    assert response.headers["referrer-policy"] == "no-referrer" and response.headers["cache-control"] == "no-store"
    await expect(phone.locator(".hello")).to_have_text("Hello Dana,")
    await expect(phone.locator("h1")).to_have_text("Wrong size shipped")
    promise = phone.locator("#promise")
    await expect(promise).to_contain_text("We will fix it by")
    assert await promise.locator("time").get_attribute("datetime") == due.astimezone(timezone.utc).isoformat()
    await expect(phone.locator(".steps li")).to_have_count(2)  # received, apologised
    await expect(phone.locator(".steps")).to_contain_text("We apologised and took your case on.")
    await expect(phone.locator(".message")).to_contain_text("A size M is being packed for you.")
    await expect(phone.locator("#zone-note")).to_contain_text("time zone")
    body = await phone.locator("body").inner_text()
    assert not any(p in body for p in PRIVATE[:3]), body
    own = await phone.evaluate(
        "(() => { const c = document.getElementById('case').cloneNode(true);"
        " c.querySelectorAll('.message').forEach(m => m.remove()); return c.innerText; })()"
    )
    assert not any(p in own for p in PRIVATE) and "Example" not in own, own  # the first name only
    assert outside == []  # nothing from outside
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # no sideways scrolling on a phone
    await shot(phone, tmp_path, "customer-page-phone.png")

    # The case moves: the page follows without a reload
    await phone.evaluate("window.notReloaded = true")
    await run_step(
        stack.client, case, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Size M delivered.")
    )
    await expect(phone.locator(".steps")).to_contain_text("We fixed the problem.", timeout=30_000)
    await expect(phone.locator("#promise")).to_contain_text("We will make it up to you", timeout=30_000)
    assert await phone.evaluate("window.notReloaded === true")

    desktop = await browser.new_page(viewport={"width": 1280, "height": 900})
    await desktop.goto(url)
    await expect(desktop.locator(".steps")).to_contain_text("We fixed the problem.")
    await expect(desktop.locator(".message")).to_have_count(2)
    await shot(desktop, tmp_path, "customer-page-desktop.png")
    await phone.close()
    await desktop.close()

    # Tampered, expired, revoked and unknown links: one plain 404, no customer data
    past = Links(KEYS, timedelta(days=1), clock=lambda: datetime.now(timezone.utc) - timedelta(days=2))
    expired = await past.issue(stack.db, f"expired-{uuid.uuid4().hex}", workflow_id, "cust-page")
    revoked = await stack.links.issue(stack.db, f"revoked-{uuid.uuid4().hex}", workflow_id, "cust-page")
    await stack.db.execute("UPDATE customer_links SET revoked_at = now() WHERE note_key LIKE 'revoked-%'")
    bad = [tampered(token), expired, revoked, "nothing-here", token[:20]]
    await eventually(lambda: _quiet(stack.db, workflow_id))
    before = await seqs(stack.db, workflow_id)
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
        answers = []
        for t in bad:
            page, status = await http.get(f"/c/{t}"), await http.get(f"/c/{t}/status.json")
            answers.append(page.text)
            assert page.status_code == 404 and status.status_code == 404, (t, page.status_code, status.status_code)
            assert not any(p in page.text for p in (*PRIVATE, "Dana", "Wrong size")), page.text
        assert len(set(answers)) == 1  # the same page whatever was wrong: no hint
        good = await http.get(f"/c/{token}/status.json")
        assert good.status_code == 200 and set(good.json()) == {"version"}
        for _ in range(3):  # a mail scanner opening every link, more than once
            for t in (token, *bad):
                await http.get(f"/c/{t}")
                await http.get(f"/c/{t}/status.json")
    assert await seqs(stack.db, workflow_id) == before  # no GET changed any case (or any link)


async def _quiet(db: asyncpg.Pool, workflow_id: str) -> bool:
    """The read model has caught up with the case: its notifications delivered and projected."""
    first = await seqs(db, workflow_id)
    sql = "SELECT count(*) FROM events WHERE workflow_id = $1 AND type = 'notified'"
    deliveries = await db.fetchval(sql, workflow_id)
    return bool(first[0] is not None and first[0] == first[1] and deliveries >= 2)

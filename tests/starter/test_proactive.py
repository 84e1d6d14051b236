"""Proactive cases: Stripe's events and the signed order feed open cases before any ticket, through
the same `open_case` as tickets. Real Temporal dev server, real PostgreSQL, the API over ASGI; each
Stripe signature computed here the way Stripe computes it (`t=…,v1=HMAC-SHA256(secret, "t.body")`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from activities.channels.email import SmtpConfig
from activities.notifications import Notifier
from activities.store.privacy import erase_customer
from starter.agents import load_agents
from starter.api import ApiSettings, create_app
from starter.cases import status, timeline
from starter.intake import IntakeConfig, ZendeskConfig, sign_zendesk
from starter.intake.orders import OrdersConfig
from starter.intake.proactive import OverchargeRule, ProactiveRules
from starter.intake.stripe_events import StripeConfig
from tests.fakes.smtp import SmtpServer
from tests.helpers import database_of, eventually, fast_policy
from tests.starter.proactive_helpers import ORDERS_SECRET, WHSEC, charge, orders_headers, stripe_event, stripe_signature
from worker import build_worker
from workflows.policy import NotificationPolicy, Policy

ROOT = Path(__file__).resolve().parents[2]
ZD_SECRET = "zd-proactive"
ALICE = {"Authorization": "Bearer dev-alice-0123456789"}


@contextlib.asynccontextmanager
async def api_of(
    client: Client,
    task_queue: str,
    db: asyncpg.Pool,
    proactive: ProactiveRules | None = None,
    policy: Policy | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    async def database() -> asyncpg.Pool:
        return db

    settings = ApiSettings(
        agents=load_agents(str(ROOT / "starter" / "dev_agents.toml")),
        intake=IntakeConfig(
            zendesk=ZendeskConfig(secrets=[ZD_SECRET]),
            stripe=StripeConfig(secrets=[WHSEC]),
            orders=OrdersConfig(secrets=[ORDERS_SECRET]),
            **({"proactive": proactive} if proactive is not None else {}),
        ),
        policy=policy or fast_policy(),
        task_queue=task_queue,
        database=database,
    )

    async def connect() -> Client:
        return client

    app = create_app(settings, connect)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        yield http


@pytest.fixture
async def api(client: Client, worker: Any, task_queue: str, db: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with api_of(client, task_queue, db) as http:
        yield http


async def post_stripe(api: httpx.AsyncClient, raw: bytes, signature: str | None = None) -> httpx.Response:
    headers = {"Stripe-Signature": signature or stripe_signature(raw), "Content-Type": "application/json"}
    return await api.post("/v1/webhooks/stripe", content=raw, headers=headers)


async def post_orders(api: httpx.AsyncClient, body: Any) -> httpx.Response:
    raw = json.dumps(body).encode()
    return await api.post("/v1/webhooks/orders", content=raw, headers=orders_headers(raw))


async def case_count(db: asyncpg.Pool, customer: str) -> int:
    """Cases opened for the customer, from the event store (every `opened` event is one case)."""
    return int(
        await db.fetchval("SELECT count(*) FROM events WHERE type = 'opened' AND data->>'customer_id' = $1", customer)
    )


async def test_stripe_signatures_valid_tampered_stale_and_a_replay(
    api: httpx.AsyncClient, client: Client, db: asyncpg.Pool
) -> None:
    customer, order = f"cus-{uuid.uuid4().hex[:6]}", f"ord-{uuid.uuid4().hex[:6]}"
    raw = stripe_event("charge.succeeded", charge(customer, order, 754300, shipping=745500))
    signature = stripe_signature(raw)

    tampered = raw.replace(b"754300", b"754301")
    refused = await post_stripe(api, tampered, signature)
    assert refused.status_code == 401 and refused.json()["error"] == "bad_signature", refused.text
    wrong_secret = await post_stripe(api, raw, stripe_signature(raw, "whsec_someone_else"))
    assert wrong_secret.status_code == 401
    stale = await post_stripe(api, raw, stripe_signature(raw, at=int(time.time()) - 301 - 60))
    assert stale.status_code == 401 and "tolerance" in stale.json()["detail"], stale.text
    unsigned = await api.post("/v1/webhooks/stripe", content=raw, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401
    assert await case_count(db, customer) == 0

    first = await post_stripe(api, raw, signature)
    assert first.status_code == 200, first.text
    assert first.json()["matched"] == ["overcharge"] and first.json()["cases"][0]["created"] is True
    again = await post_stripe(api, raw, stripe_signature(raw))  # Stripe's retry: the same event, re-signed
    assert again.status_code == 200 and again.json()["status"] == "duplicate", again.text
    assert await case_count(db, customer) == 1
    assert (await status(client, f"{customer}:{order}")).contact_count == 0  # the replay added no contact (none yet)


def zendesk_ticket(requester: str, order: str) -> tuple[bytes, dict[str, str]]:
    body = {
        "ticket_id": requester,
        "subject": "Why was I charged $7,455 for shipping?",
        "requester": {"id": requester, "name": "Dana Example", "email": "dana@example.com"},
        "order": {"id": order, "currency": "USD"},
    }
    raw = json.dumps(body).encode()
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return raw, {
        "X-Zendesk-Webhook-Signature": sign_zendesk(ZD_SECRET, stamp, raw),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "Content-Type": "application/json",
    }


def refunded(paid: dict[str, Any], amount: int, refund: str) -> dict[str, Any]:
    return dict(
        paid,
        amount_refunded=amount,
        refunds={"object": "list", "data": [{"id": refund, "amount": amount, "created": 1}]},
    )


@pytest.fixture
async def mail_api(client: Client, task_queue: str, db: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """The API and a worker whose customer messages go by email, to a real SMTP server on loopback."""
    smtp = SmtpServer()
    policy = fast_policy()
    policy = policy.model_copy(
        update={"notifications": NotificationPolicy(channel="email", sender="Shop Care <care@shop.example>")}
    )
    notifier = Notifier(smtp=SmtpConfig.from_url(smtp.url, "care@shop.example"), pool=db)
    try:
        async with build_worker(client, pool=db, queue=task_queue, notifier=notifier):
            async with api_of(client, task_queue, db, policy=policy) as http:
                http.smtp = smtp  # type: ignore[attr-defined]
                yield http
    finally:
        smtp.close()


async def test_an_88_dollar_order_charged_7455_shipping_opens_a_case_a_ticket_joins_and_a_refund_fixes_it(
    mail_api: httpx.AsyncClient, client: Client, db: asyncpg.Pool
) -> None:
    api = mail_api
    smtp: SmtpServer = api.smtp  # type: ignore[attr-defined]
    requester = str(uuid.uuid4().int % 10**9)
    customer, order = f"zd-user-{requester}", f"ord-{uuid.uuid4().hex[:6]}"
    paid = charge(customer, order, 8800 + 745500, shipping=745500)
    opened = await post_stripe(api, stripe_event("charge.succeeded", paid))
    assert opened.status_code == 200, opened.text
    case = opened.json()["cases"][0]["case_id"]
    assert case == f"{customer}:{order}"
    assert opened.json()["apologised"] == [case]

    # Acknowledged at once by the engine with the rule's apology: before the customer writes, they
    # have been told we are sorry and what we are doing.
    async def acknowledged() -> Any:
        now = await status(client, case)
        return now if now.step == "fix" else None

    before = await eventually(acknowledged)
    assert before.severity.value == "critical" and before.ticket_source == "proactive"
    assert before.contact_count == 0  # no contact from the customer yet: we reached out first
    assert "7455.00 USD" in before.subject and "88.00 USD" in before.subject
    events = await timeline(client, case, database_of(db))
    ack = next(e for e in events if e.type == "acknowledged")
    assert ack.actor == "proactive" and "refunding the overcharged shipping" in ack.data["message"]

    async def apology() -> Any:
        return await db.fetchrow(
            "SELECT title, text FROM customer_messages WHERE workflow_id = $1 AND template = 'acknowledgement'",
            f"complaint-{case}",
        )

    sent = await eventually(apology)
    assert sent["title"].startswith("We're sorry")
    assert "We charged 7455.00 USD for shipping on goods of 88.00 USD" in sent["text"], sent["text"]
    assert "refunding the overcharged shipping now" in sent["text"]

    # The apology email reaches the customer's mailbox before any ticket exists.
    async def mailed() -> list:
        return await asyncio.to_thread(smtp.to, "dana@example.com")

    (mail,) = await eventually(mailed, timeout=30)
    assert str(mail["Subject"]).startswith("We're sorry")
    assert "refunding the overcharged shipping now" in mail.get_body(preferencelist=("plain",)).get_content()

    # The customer writes in about the same order: the ticket joins the case, no second case.
    raw, zd_headers = zendesk_ticket(requester, order)
    joined = await api.post("/v1/webhooks/zendesk", content=raw, headers=zd_headers)
    assert joined.status_code == 202, joined.text
    assert joined.json()["created"] is False and joined.json()["case_id"] == case
    assert await case_count(db, customer) == 1
    events = await timeline(client, case, database_of(db))
    assert [e.data["source"] for e in events if e.type == "contact_added"] == ["zendesk"]  # one contact
    assert (await status(client, case)).contact_count == 1
    assert [e.type for e in events].count("acknowledged") == 1  # the ticket apologises no second time

    short = await post_stripe(api, stripe_event("charge.refunded", refunded(paid, 500000, "re_part0001")))
    assert short.json()["fix"]["applied"] is False and "does not cover" in short.json()["fix"]["ignored"]

    fixed = await post_stripe(api, stripe_event("charge.refunded", refunded(paid, 745500, "re_full0002")))
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["fix"] == {"case_id": case, "applied": True, "refund": "re_full0002", "ignored": None}

    async def fix_recorded() -> Any:
        events = await timeline(client, case, database_of(db))
        return next((e for e in events if e.type == "fix_recorded"), None)

    fix = await eventually(fix_recorded)
    assert fix.actor == "stripe" and "re_full0002" in fix.data["description"]
    assert (await status(client, case)).step != "fix"


async def test_with_no_apology_the_case_waits_for_an_agent_and_an_early_refund_is_no_fix(
    client: Client, worker: Any, task_queue: str, db: asyncpg.Pool
) -> None:
    rules = ProactiveRules(overcharge=OverchargeRule(apology=""))
    async with api_of(client, task_queue, db, rules) as api:
        customer, order = f"cus-{uuid.uuid4().hex[:6]}", f"ord-{uuid.uuid4().hex[:6]}"
        paid = charge(customer, order, 8800 + 745500, shipping=745500)
        opened = await post_stripe(api, stripe_event("charge.succeeded", paid))
        assert opened.status_code == 200 and opened.json()["apologised"] == [], opened.text
        case = opened.json()["cases"][0]["case_id"]
        assert (await status(client, case)).step == "acknowledge"

        # A full refund of the shipping before anyone acknowledged: the case cannot take a fix yet;
        # its timeline says why.
        early = await post_stripe(api, stripe_event("charge.refunded", refunded(paid, 745500, "re_early0001")))
        assert early.status_code == 200 and early.json()["fix"]["applied"] is False, early.text
        events = await timeline(client, case, database_of(db))
        assert any(e.type == "ticket_event_ignored" and "re_early0001" in e.data["reason"] for e in events)
        assert not any(e.type == "acknowledged" for e in events)

        acked = await api.post(f"/v1/complaints/{case}/acknowledge", json={"message": "We are on it."}, headers=ALICE)
        assert acked.status_code == 200, acked.text
        fixed = await post_stripe(api, stripe_event("charge.refunded", refunded(paid, 745500, "re_full0003")))
        assert fixed.json()["fix"]["applied"] is True, fixed.text


async def test_a_shipment_delayed_30_h_opens_a_case_and_2_h_does_not(
    api: httpx.AsyncClient, client: Client, db: asyncpg.Pool
) -> None:
    customer = f"shop-{uuid.uuid4().hex[:6]}"
    promised = datetime(2026, 12, 10, 17, 0, tzinfo=timezone.utc)

    def delayed(order: str, hours: int) -> dict[str, Any]:
        return {
            "id": f"evt-{uuid.uuid4().hex[:10]}",
            "type": "shipment.delayed",
            "occurred_at": "2026-12-08T09:00:00Z",
            "order": {"id": order, "currency": "USD", "customer": {"id": customer, "name": "Sam Shopper"}},
            "shipment": {
                "id": f"shp-{order}",
                "carrier": "UPS",
                "promised_at": promised.isoformat(),
                "expected_at": (promised + timedelta(hours=hours)).isoformat(),
                "reason": "weather",
            },
        }

    slight = await post_orders(api, delayed("ord-2h", 2))
    assert slight.status_code == 200 and slight.json()["matched"] == [] and slight.json()["ignored"], slight.text
    assert await case_count(db, customer) == 0

    late_body = delayed("ord-30h", 30)
    late = await post_orders(api, late_body)
    assert late.status_code == 200 and late.json()["matched"] == ["late_delivery"], late.text
    case = late.json()["cases"][0]["case_id"]
    assert case == f"{customer}:ord-30h"
    opened = await status(client, case)
    assert opened.severity.value == "normal" and "1d6h" in opened.subject
    raw = json.dumps(late_body).encode()
    replay = await api.post("/v1/webhooks/orders", content=raw, headers=orders_headers(raw))
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate"
    bad = await api.post("/v1/webhooks/orders", content=raw, headers=orders_headers(raw, "not-the-secret"))
    assert bad.status_code == 401
    assert await case_count(db, customer) == 1


async def test_two_identical_charges_3_minutes_apart_open_a_duplicate_charge_case(
    api: httpx.AsyncClient, client: Client, db: asyncpg.Pool
) -> None:
    customer, order = f"cus-{uuid.uuid4().hex[:6]}", f"ord-{uuid.uuid4().hex[:6]}"
    now = int(time.time())
    first = await post_stripe(api, stripe_event("charge.succeeded", charge(customer, order, 4999, 500, now - 180)))
    assert first.status_code == 200 and first.json()["matched"] == [], first.text
    other = await post_stripe(api, stripe_event("charge.succeeded", charge(customer, "ord-other", 5000, 500, now)))
    assert other.json()["matched"] == []  # a different amount is no duplicate
    second = await post_stripe(api, stripe_event("charge.succeeded", charge(customer, order, 4999, 500, now)))
    assert second.status_code == 200 and second.json()["matched"] == ["duplicate_charge"], second.text
    case = second.json()["cases"][0]["case_id"]
    opened = await status(client, case)
    assert opened.severity.value == "high" and "49.99 USD" in opened.subject and "3m" in opened.subject
    assert await case_count(db, customer) == 1
    # Erasing the customer forgets the charges the rules remembered, too.
    assert await db.fetchval("SELECT count(*) FROM recent_charges WHERE customer_id = $1", customer) == 3
    await erase_customer(db, customer, "ops-test")
    assert await db.fetchval("SELECT count(*) FROM recent_charges WHERE customer_id = $1", customer) == 0


async def test_a_dispute_opens_a_case_on_the_order_of_its_charge(
    api: httpx.AsyncClient, client: Client, db: asyncpg.Pool
) -> None:
    customer, order = f"cus-{uuid.uuid4().hex[:6]}", f"ord-{uuid.uuid4().hex[:6]}"
    paid = charge(customer, order, 12000, 1000)
    assert (await post_stripe(api, stripe_event("charge.succeeded", paid))).json()["matched"] == []
    dispute = {
        "id": f"dp_{uuid.uuid4().hex[:20]}",
        "object": "dispute",
        "amount": 12000,
        "currency": "usd",
        "charge": paid["id"],  # not expanded: the order is found among the charges seen
        "reason": "product_not_received",
        "created": int(time.time()),
        "metadata": {},
    }
    opened = await post_stripe(api, stripe_event("charge.dispute.created", dispute))
    assert opened.status_code == 200 and opened.json()["matched"] == ["payment_dispute"], opened.text
    case = opened.json()["cases"][0]["case_id"]
    assert case == f"{customer}:{order}"
    assert "product_not_received" in (await status(client, case)).subject
    failed = {"id": "in_1", "object": "invoice", "customer": "cus_1", "amount_due": 100, "currency": "usd"}
    invoice = await post_stripe(api, stripe_event("invoice.payment_failed", failed))
    assert invoice.status_code == 200 and invoice.json()["ignored"], invoice.text

"""Proactive intake refuses what it cannot use, signed or not, before anything reaches Temporal:
bad signatures 401, malformed bodies 4xx naming the field, huge and deep bodies 413/400; and the
rules themselves (pure): the intake file's `[proactive.*]` keys and what each rule matches."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from starter.agents import load_agents
from starter.api import ApiSettings, create_app
from starter.intake import IntakeConfig, IntakeConfigError, parse_intake_config
from starter.intake import proactive as rules
from starter.intake.orders import OrdersConfig
from starter.intake.stripe_events import SECRET_ENV, StripeConfig
from tests.helpers import fast_policy
from tests.starter.proactive_helpers import ORDERS_SECRET, WHSEC, charge, orders_headers, stripe_event, stripe_signature

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    async def connect() -> Client:
        raise AssertionError("nothing refused here may reach Temporal")

    settings = ApiSettings(
        agents=load_agents(str(ROOT / "starter" / "dev_agents.toml")),
        intake=IntakeConfig(stripe=StripeConfig(secrets=[WHSEC]), orders=OrdersConfig(secrets=[ORDERS_SECRET])),
        policy=fast_policy(),
    )
    app = create_app(settings, connect)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        yield http


def _event() -> dict[str, Any]:
    return json.loads(stripe_event("charge.succeeded", charge("cus-x", "ord-x", 754300, 745500)))


def _with(path: str, value: Any) -> dict[str, Any]:
    """The good event with the dotted `path` set to `value` (or removed, for ...)."""
    body = _event()
    *parents, last = path.split(".")
    node = body
    for part in parents:
        node = node[part]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return body


STRIPE_CASES = [
    ("id", ..., "id"),
    ("type", 5, "type"),
    ("data", ..., "data"),
    ("data.object.amount", ..., "data.object.amount"),
    ("data.object.amount", "754300", "data.object.amount"),
    ("data.object.amount", -1, "data.object.amount"),
    ("data.object.amount", 10**13, "data.object.amount"),
    ("data.object.amount", 7543.0, "data.object.amount"),
    ("data.object.currency", 12, "data.object.currency"),
    ("data.object.currency", "dollars", "data.object.currency"),
    ("data.object.metadata", ["a"], "data.object.metadata"),
    ("data.object.metadata.shipping", "74.55", "metadata.shipping"),
    ("data.object.metadata.shipping", "999999999", "metadata.shipping"),
    ("data.object.metadata.order_id", "order #1", "metadata.order_id"),
    ("data.object.metadata.customer_id", "x" * 81, "metadata.customer_id"),
    ("data.object.created", "yesterday", "data.object.created"),
    ("data.object.created", 10**13, "data.object.created"),
    ("created", -1, "created"),
]


@pytest.mark.parametrize(("path", "value", "named"), STRIPE_CASES)
async def test_a_malformed_signed_stripe_event_is_refused_naming_the_field(
    api: httpx.AsyncClient, path: str, value: Any, named: str
) -> None:
    raw = json.dumps(_with(path, value)).encode()
    response = await api.post("/v1/webhooks/stripe", content=raw, headers={"Stripe-Signature": stripe_signature(raw)})
    assert response.status_code == 422, response.text
    assert named in response.json()["detail"], response.text


@pytest.mark.parametrize(
    ("raw", "expect"),
    [
        (b"not json", 400),
        (b"[1, 2]", 400),
        (b"\xff\xfe{}", 400),
        (b'{"a": ' * 80 + b"1" + b"}" * 80, 400),  # deeper than max_body_depth
        (b'{"pad": "' + b"x" * 300_000 + b'"}', 413),  # over max_body_bytes
    ],
)
async def test_bodies_no_route_may_parse_are_refused_signed_or_not(
    api: httpx.AsyncClient, raw: bytes, expect: int
) -> None:
    signature = f"t={int(time.time())},v1={'0' * 64}"
    response = await api.post("/v1/webhooks/stripe", content=raw, headers={"Stripe-Signature": signature})
    assert response.status_code == expect, response.text


async def test_stripe_signature_headers_that_do_not_verify_are_401(api: httpx.AsyncClient) -> None:
    raw = stripe_event("charge.succeeded", charge("cus-x", "ord-x", 100))
    now = int(time.time())
    for header in ["", "garbage", f"t={now}", f"t={now},v0=abc", f"t=soon,v1={'0' * 64}", stripe_signature(raw)[:-1]]:
        response = await api.post("/v1/webhooks/stripe", content=raw, headers={"Stripe-Signature": header})
        assert response.status_code == 401, (header, response.text)


async def test_stripe_without_a_secret_is_not_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    settings = ApiSettings(
        agents=load_agents(str(ROOT / "starter" / "dev_agents.toml")), intake=IntakeConfig(), policy=fast_policy()
    )

    async def connect() -> Client:
        raise AssertionError

    app = create_app(settings, connect)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        raw = stripe_event("charge.succeeded", charge("cus-x", "ord-x", 100))
        missing = await http.post(
            "/v1/webhooks/stripe", content=raw, headers={"Stripe-Signature": stripe_signature(raw)}
        )
        assert missing.status_code == 404 and "RECOVERY_STRIPE_WEBHOOK_SECRET" in missing.json()["detail"]
        orders = await http.post("/v1/webhooks/orders", content=b"{}", headers=orders_headers(b"{}"))
        assert orders.status_code == 404
        monkeypatch.setenv(SECRET_ENV, f"whsec_new,{WHSEC}")  # the environment alone turns Stripe on
        signed_old = await http.post("/v1/webhooks/stripe", content=b"[]", headers={"Stripe-Signature": "x"})
        assert signed_old.status_code == 400  # configured now: the body is refused, not the route


def _order(kind: str = "order.charged") -> dict[str, Any]:
    return {
        "id": "evt-1",
        "type": kind,
        "occurred_at": "2026-12-08T09:00:00Z",
        "order": {
            "id": "ord-1",
            "currency": "USD",
            "customer": {"id": "cust-1", "name": "Sam", "email": "sam@example.com"},
            "line_items": [{"sku": "GLS-1", "name": "Glass", "quantity": 2, "unit_price": "44.00"}],
            "shipping": "7455.00",
            "total": "7543.00",
        },
        "shipment": {"id": "shp-1", "promised_at": "2026-12-10T17:00:00Z", "expected_at": "2026-12-12T17:00:00Z"},
    }


ORDER_CASES = [
    ("order.customer", ..., "order.customer"),
    ("order.customer.id", "not an id", "order.customer.id"),
    ("order.line_items.0.quantity", "2", "order.line_items.0.quantity"),
    ("order.line_items.0.unit_price", 44.0, "order.line_items.0.unit_price"),
    ("order.shipping", "7455.001", "shipping"),
    ("order.shipping", ..., "order.shipping"),
    ("order.currency", "XXX", "order.currency"),
    ("occurred_at", "2026-12-08T09:00:00", "occurred_at"),
    ("occurred_at", "0001-01-01T00:00:00+14:00", "occurred_at"),
    ("shipment.promised_at", "9999-12-31T23:59:59-14:00", "shipment.promised_at"),
    ("type", "order.cancelled", "type"),
    ("id", ..., "id"),
    ("extra", 1, "extra"),
    ("order.line_items", [{"name": "x", "unit_price": "1"}] * 501, "order.line_items"),
]


@pytest.mark.parametrize(("path", "value", "named"), ORDER_CASES)
async def test_a_malformed_signed_order_event_is_refused_naming_the_field(
    api: httpx.AsyncClient, path: str, value: Any, named: str
) -> None:
    body = copy.deepcopy(_order())
    *parents, last = path.split(".")
    node: Any = body
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    raw = json.dumps(body).encode()
    response = await api.post("/v1/webhooks/orders", content=raw, headers=orders_headers(raw))
    assert response.status_code == 422, response.text
    assert named in response.json()["detail"], response.text


async def test_shipment_events_need_their_shipment(api: httpx.AsyncClient) -> None:
    for kind, remove, named in [
        ("shipment.delayed", "shipment", "shipment"),
        ("shipment.exception", "shipment", "shipment"),
        ("shipment.delayed", "expected_at", "shipment.expected_at"),
    ]:
        body = _order(kind)
        if remove == "shipment":
            del body["shipment"]
        else:
            del body["shipment"][remove]
        raw = json.dumps(body).encode()
        response = await api.post("/v1/webhooks/orders", content=raw, headers=orders_headers(raw))
        assert response.status_code == 422 and named in response.json()["detail"], response.text


async def test_order_signatures_that_do_not_verify_are_401(api: httpx.AsyncClient) -> None:
    raw = json.dumps(_order()).encode()
    good = orders_headers(raw)
    stale_stamp = (datetime.now(timezone.utc) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for headers in [
        {},
        {"X-Recovery-Signature": good["X-Recovery-Signature"]},
        orders_headers(raw, "wrong-secret"),
        orders_headers(raw + b" "),
        {**good, "X-Recovery-Signature-Timestamp": stale_stamp},
    ]:
        response = await api.post("/v1/webhooks/orders", content=raw, headers=headers)
        assert response.status_code == 401, (headers, response.text)


# --- the rules, pure ------------------------------------------------------------------------------

PARTY = rules.Party("cust-1", "Sam", None, "ord-1", "USD")


def test_overcharge_by_ratio_by_limit_and_off() -> None:
    rule = rules.OverchargeRule()
    assert rules.overcharge(rule, PARTY, Decimal("88.00"), Decimal("7455.00")) is not None
    assert rules.overcharge(rule, PARTY, Decimal("88.00"), Decimal("440.00")) is None  # exactly 5×
    assert rules.overcharge(rule, PARTY, Decimal("0"), Decimal("1.00")) is None  # no goods: only a limit applies
    assert rules.overcharge(rules.OverchargeRule(limit={"USD": "0.50"}), PARTY, Decimal(0), Decimal(1)) is not None
    assert rules.overcharge(rule, PARTY, Decimal("0"), Decimal("0")) is None
    capped = rules.OverchargeRule(limit={"USD": "100.00"})
    found = rules.overcharge(capped, PARTY, Decimal("1000.00"), Decimal("150.00"))
    assert found is not None and "100.00 USD" not in found.message  # default template names no limit
    assert rules.overcharge(capped, rules.Party("c", None, None, "o", "EUR"), Decimal(1000), Decimal(150)) is None
    assert rules.overcharge(rules.OverchargeRule(enabled=False), PARTY, Decimal(1), Decimal(1000)) is None


def test_late_delivery_beyond_grace_only() -> None:
    rule = rules.LateDeliveryRule()
    promised = datetime(2026, 12, 10, tzinfo=timezone.utc)
    assert rules.late_delivery(rule, PARTY, "s", promised, promised + timedelta(hours=24)) is None
    late = rules.late_delivery(rule, PARTY, "s", promised, promised + timedelta(hours=24, minutes=1))
    assert late is not None and "1d1m" in late.message
    assert rules.late_delivery(rule, PARTY, "s", promised, None, "lost") is not None  # an exception, no date


def test_the_intake_file_names_each_rule_severity_and_message() -> None:
    config = parse_intake_config(
        """
[proactive.overcharge]
severity = "high"
shipping_ratio = 3
limit = { USD = "250.00" }
message = "Shipping {shipping} over {limit} on {order}"

[proactive.duplicate_charge]
window = "5m"

[proactive.late_delivery]
grace = "2h"
severity = "low"

[proactive.payment_dispute]
enabled = false
"""
    )
    p = config.proactive
    assert p.overcharge.severity.value == "high" and p.overcharge.shipping_ratio == 3
    assert p.duplicate_charge.window == timedelta(minutes=5) and p.late_delivery.grace == timedelta(hours=2)
    assert not p.payment_dispute.enabled
    found = rules.overcharge(p.overcharge, PARTY, Decimal("100.00"), Decimal("260.00"))
    assert found is not None and found.message == "Shipping 260.00 USD over 250.00 USD on ord-1"
    for bad, says in [
        ('[proactive.overcharge]\nmessage = "{nope}"', "unknown placeholder {nope}"),
        ('[proactive.overcharge]\nmessage = "{"', "message"),
        ("[proactive.overcharge]\nshipping_ratio = 0", "shipping_ratio"),
        ('[proactive.late_delivery]\ngrace = "soon"', "grace"),
        ('[proactive.late_delivery]\nseverity = "urgent"', "severity"),
        ("[proactive.other]\nx = 1", "other"),
        ('[stripe.metadata]\norder = "x"', "order"),
    ]:
        with pytest.raises(IntakeConfigError, match=says):
            parse_intake_config(bad)


def test_ticket_ids_stay_identifiers() -> None:
    assert rules.ticket_id("overcharge", "ord 1/2") == "overcharge-ord-1-2"
    long = rules.ticket_id("duplicate_charge", "ch_" + "a" * 100)
    assert len(long) <= 80 and long != rules.ticket_id("duplicate_charge", "ch_" + "a" * 99 + "b")

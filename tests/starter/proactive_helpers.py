"""Signed Stripe events and order-feed requests for the proactive tests (and the bad-input matrix)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from starter.intake.orders import sign_orders

WHSEC, ORDERS_SECRET = "whsec_test_proactive", "orders-proactive"
ORDER: dict[str, Any] = {
    "id": "e-1",
    "type": "order.charged",
    "occurred_at": "2026-12-08T09:00:00Z",
    "order": {"id": "o-1", "currency": "USD", "customer": {"id": "c-1"}, "shipping": "9.00", "total": "99.00"},
}


def stripe_signature(raw: bytes, secret: str = WHSEC, at: int | None = None) -> str:
    """The `Stripe-Signature` header as Stripe computes it: t=<unix time>,v1=HMAC-SHA256(secret, "t.body")."""
    stamp = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def stripe_event(kind: str, obj: dict[str, Any], event_id: str | None = None) -> bytes:
    body = {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "type": kind,
        "livemode": False,
        "data": {"object": obj},
    }
    return json.dumps(body).encode()


def charge(
    customer: str, order: str, amount: int, shipping: int | None = None, created: int | None = None, **more: Any
) -> dict[str, Any]:
    """A Stripe Charge with the order in its metadata (shipping in cents)."""
    metadata = {"order_id": order, "customer_id": customer, "customer_name": "Dana Example"}
    if shipping is not None:
        metadata["shipping"] = str(shipping)
    return {
        "id": f"ch_{uuid.uuid4().hex[:24]}",
        "object": "charge",
        "amount": amount,
        "amount_refunded": 0,
        "currency": "usd",
        "created": created or int(time.time()),
        "customer": None,
        "payment_intent": f"pi_{uuid.uuid4().hex[:24]}",
        "metadata": metadata,
        "billing_details": {"email": "dana@example.com", "name": "Dana Example"},
        **more,
    }


def orders_headers(raw: bytes, secret: str = ORDERS_SECRET, stamp: str | None = None) -> dict[str, str]:
    stamp = stamp or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "X-Recovery-Signature": sign_orders(secret, stamp, raw),
        "X-Recovery-Signature-Timestamp": stamp,
        "Content-Type": "application/json",
    }


def bad_requests(
    out_of_range: list[str], control: list[str]
) -> Iterator[tuple[str, str, dict[str, Any], dict[str, str] | None]]:
    """(kind, route, body, headers — None: sign it for the route) of bad input beyond the shapes."""
    overcharge = json.loads(stripe_event("charge.succeeded", charge("c-1", "o-1", 754300, 745500)))
    for char in control:  # a case would open from it: the name is refused, naming the field
        body = json.loads(json.dumps(overcharge))
        body["data"]["object"]["metadata"]["customer_name"] = f"a{char}b"
        yield "control character", "/v1/webhooks/stripe", body, None
    yield "wrong type (field)", "/v1/webhooks/stripe", {**overcharge, "data": {"object": []}}, None
    for bad in out_of_range:
        yield "out-of-range date", "/v1/webhooks/orders", {**ORDER, "occurred_at": bad}, None
        raw = json.dumps(ORDER).encode()
        yield "out-of-range timestamp", "/v1/webhooks/orders", ORDER, orders_headers(raw, stamp=bad)

"""The demo's proactive case: Stripe reports a charge of 7455.00 USD shipping on 88.00 USD of goods.
The overcharge rule opens a case before the customer writes and apologises at once; the customer's
ticket joins the case; the refund at Stripe records the fix; alice adds a credit and closes it.

The Stripe events are signed the way Stripe signs them (`t=…,v1=HMAC-SHA256(secret, "t.body")`)
with the secret in `RECOVERY_STRIPE_WEBHOOK_SECRET` (its first one), else `DEMO_STRIPE_SECRET`,
which `recovery dev` sets when no secret is given. A stack with no Stripe secret at all answers
404: the case is then skipped (said so) and does not count against the demo."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import uuid
from typing import Any

from starter.demo.driver import Demo, DemoCase, _Abort, _due, _issued
from starter.demo.scenarios import _close_out, _ticket
from starter.intake.stripe_events import SECRET_ENV

DEMO_STRIPE_SECRET = "whsec_recovery_demo_not_a_real_secret"
GOODS, SHIPPING = 8800, 745500  # cents


def stripe_secret() -> str:
    given = [s.strip() for s in os.environ.get(SECRET_ENV, "").split(",") if s.strip()]
    return given[0] if given else DEMO_STRIPE_SECRET


def signed(kind: str, obj: dict[str, Any], secret: str) -> tuple[bytes, dict[str, str]]:
    body = {
        "id": f"evt_demo{uuid.uuid4().hex[:20]}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "type": kind,
        "livemode": False,
        "data": {"object": obj},
    }
    raw = json.dumps(body).encode()
    stamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return raw, {"Stripe-Signature": f"t={stamp},v1={digest}", "Content-Type": "application/json"}


def the_charge(run_id: str, key: str) -> dict[str, Any]:
    customer, order = key.split(":")
    return {
        "id": f"ch_demo{run_id}",
        "object": "charge",
        "amount": GOODS + SHIPPING,
        "amount_refunded": 0,
        "currency": "usd",
        "created": int(time.time()),
        "customer": None,
        "payment_intent": f"pi_demo{run_id}",
        "metadata": {"order_id": order, "customer_id": customer, "customer_name": "Kim Shopper", "shipping": "745500"},
        "billing_details": {"email": "kim@example.com", "name": "Kim Shopper"},
    }


async def post_stripe(demo: Demo, case: DemoCase, kind: str, obj: dict[str, Any], action: str) -> dict[str, Any] | None:
    """One signed Stripe event; None when the stack has no Stripe secret (404: the case is skipped)."""
    raw, headers = signed(kind, obj, stripe_secret())
    try:
        response = await demo.http.post("/v1/webhooks/stripe", content=raw, headers=headers)
    except Exception as err:
        demo.say(case, f"✗ {action}: {type(err).__name__}: {err}")
        raise _Abort from None
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        demo.say(case, f"✗ {action}: {response.status_code} {response.text[:300]}")
        raise _Abort
    result: dict[str, Any] = response.json()
    return result


async def proactive(demo: Demo, case: DemoCase) -> None:
    paid = the_charge(demo.run_id, case.key)
    opened = await post_stripe(demo, case, "charge.succeeded", paid, "Stripe charge.succeeded")
    if opened is None:
        case.skipped = True
        demo.say(case, f"skipped: the stack has no Stripe webhook secret ({SECRET_ENV}; `recovery dev` sets one)")
        return
    if opened.get("matched") != ["overcharge"] or not opened.get("cases"):
        demo.say(case, f"✗ the charge opened no overcharge case: {json.dumps(opened)}")
        raise _Abort
    demo.say(case, "Stripe: charge.succeeded, 7455.00 USD shipping on 88.00 USD goods → overcharge, case opened")
    if opened["cases"][0].get("created") and demo.move_to_demo_policy is not None:
        await demo.move_to_demo_policy(case.key)
        demo.say(case, "moved onto the demo policy (apply_policy update: deadlines of seconds)")
    data = await demo.wait_for(
        case,
        "the apology",
        lambda d: any(e["type"] == "acknowledged" for e in d["timeline"]),
        30.0,
    )
    ack = next(e for e in data["timeline"] if e["type"] == "acknowledged")
    demo.say(case, f"acknowledged by {ack['actor']} before any contact: {ack['data']['message']!r}; {_due(data)}")

    ticket = _ticket(
        demo.run_id,
        case.key,
        source="generic",
        event="web-overcharge",
        ticket="W-3301",
        name="Kim Shopper",
        email="kim@example.com",
        order={"currency": "USD", "total": "7543.00", "shipping": "7455.00"},
        subject="7,455 USD shipping?!",
        description="I was charged 7,455 USD for shipping. Your email says you are refunding it; thanks.",
    )
    joined = await demo.post_ticket(case, ticket, "the customer's ticket")
    what = "joined the case" if not joined.get("created") else "✗ opened a second case"
    demo.say(case, f"the customer's ticket posted by ops-intake → {what} (contacts: {joined['contact_count']})")

    refunded = dict(paid, amount_refunded=SHIPPING)
    refunded["refunds"] = {
        "object": "list",
        "data": [{"id": f"re_demo{demo.run_id}", "amount": SHIPPING, "created": 1}],
    }
    result = await post_stripe(demo, case, "charge.refunded", refunded, "Stripe charge.refunded")
    fix = (result or {}).get("fix") or {}
    if not fix.get("applied"):
        demo.say(case, f"✗ the refund recorded no fix: {json.dumps(fix)}")
        raise _Abort
    data = await demo.wait_for(case, "the fix", lambda d: any(e["type"] == "fix_recorded" for e in d["timeline"]), 30)
    demo.say(case, f"Stripe: charge.refunded 7455.00 USD → fix recorded by stripe; {_due(data)}")

    status = await demo.step(
        case,
        "compensation",
        "alice",
        {
            "kind": "credit",
            "amount": {"amount": "10.00", "currency": "USD"},
            "reason": "For the scare: 10.00 USD store credit on top of the refunded shipping.",
        },
        action="compensation",
    )
    assert status is not None
    demo.say(case, f"compensation by alice: {_issued(status)}; {_due(status)}")
    await _close_out(
        demo, case, "billing-error", "Carrier rate table misread; caught by the overcharge rule before the customer."
    )

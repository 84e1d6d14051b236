"""The four classic cases (and the proactive one), each played through the driver against the HTTP API.

1. wrong size shipped, replacement sold out  → upgrade to the premium model, closed out-of-stock
2. one of eight glasses arrived broken        → full refund above the agent's authority, approved
                                                by the team lead, closed damaged-in-transit
3. $7,455 shipping on an $88 order, six contacts, unacknowledged until the ladder's top
                                              → refund 7455.00 USD: the team lead may not approve
                                                it (403), the manager does; closed billing-error
4. late delivery turned into a win            → store credit of the order total, closed late-delivery
5. proactive (starter/demo/proactive.py): a Stripe charge with 7455.00 USD shipping on 88.00 USD
   opens an overcharge case and apologises before any contact; the customer's ticket joins it; the
   refund at Stripe records the fix; a credit, closed billing-error
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from starter.demo.driver import FOLLOW_UP_WAIT, LADDER_WAIT, Demo, DemoCase, _due, _issued


def case_keys(run_id: str) -> dict[str, str]:
    """The case key of each demo case for a run id (unique per run, so closed workflows never collide)."""
    return {
        "wrong-size": f"cust-2001-{run_id}:ord-5531",
        "glasses": f"cust-3007-{run_id}:ord-7720",
        "shipping": f"cust-1042-{run_id}:ord-88",
        "late": f"cust-4410-{run_id}:ord-9102",
        "proactive": f"cust-5150-{run_id}:ord-4242",
    }


# ---- tickets ------------------------------------------------------------------------------


def _ticket(
    run_id: str,
    key: str,
    *,
    source: str,
    event: str,
    ticket: str,
    name: str,
    email: str,
    order: dict[str, str],
    subject: str,
    description: str,
    severity: str | None = None,
) -> dict[str, Any]:
    customer_id, order_id = key.split(":")
    body: dict[str, Any] = {
        "source": source,
        "event_id": f"{event}-{run_id}",
        "ticket_id": f"{ticket}-{run_id}",
        "customer": {"id": customer_id, "name": name, "email": email},
        "order": {"id": order_id, **order},
        "subject": subject,
        "description": description,
        "occurred_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if severity:
        body["severity"] = severity
    return body


async def open_case(demo: Demo, case: DemoCase, ticket: dict[str, Any]) -> dict[str, Any]:
    """Post the case's first ticket as ops-intake; returns the case as the API shows it."""
    result = await demo.post_ticket(case, ticket, "open the case")
    demo.say(case, f"ticket posted by ops-intake → case opened (contacts: {result['contact_count']})")
    return await demo.view(case)


def wrong_size_ticket(run_id: str, key: str) -> dict[str, Any]:
    """The first case's ticket (the runner opens it itself: it doubles as the probe of the stack's policy)."""
    return _ticket(
        run_id,
        key,
        source="generic",
        event="web-wrong-size",
        ticket="W-1001",
        name="Sam Buyer",
        email="sam@example.com",
        order={"currency": "USD", "total": "64.00", "shipping": "5.00"},
        subject="Wrong size shipped",
        description="Ordered a medium, received an XXL.",
    )


# ---- the four cases -------------------------------------------------------------------------


async def _close_out(
    demo: Demo, case: DemoCase, root_cause: str, note: str, csat: int = 5, follow_up_note: str = ""
) -> None:
    """Wait until the engine asks the customer, record the answer, close."""
    await demo.wait_for(
        case,
        "the follow-up to be asked",
        lambda d: any(e["type"] == "follow_up_asked" for e in d["timeline"]),
        FOLLOW_UP_WAIT,
    )
    status = await demo.step(
        case, "follow-up", "alice", {"outcome": "satisfied", "csat": csat, "note": follow_up_note}, action="follow-up"
    )
    assert status is not None
    demo.say(case, f"follow-up recorded by alice: satisfied, CSAT {csat}; {_due(status)}")
    status = await demo.step(case, "close", "alice", {"root_cause": root_cause, "note": note}, action="close")
    assert status is not None
    demo.say(case, f"closed by alice, root cause {root_cause}")
    case.done = status.get("step") == "closed"


async def _ack_and_fix(demo: Demo, case: DemoCase, message: str, fix: str) -> None:
    status = await demo.step(case, "acknowledge", "alice", {"message": message}, action="acknowledge")
    assert status is not None
    demo.say(case, f"acknowledged by alice (apology sent); {_due(status)}")
    status = await demo.step(case, "fix", "alice", {"description": fix}, action="fix")
    assert status is not None
    demo.say(case, f"fix recorded by alice: {fix!r}; {_due(status)}")


async def wrong_size_rest(demo: Demo, case: DemoCase) -> None:
    await _ack_and_fix(
        demo,
        case,
        "We're sorry: we sent an XXL instead of your medium.",
        "replacement sold out; upgraded to premium model",
    )
    status = await demo.step(
        case,
        "compensation",
        "alice",
        {
            "kind": "upgrade",
            "amount": {"amount": "45.00", "currency": "USD"},
            "reason": "VIP upgrade to the premium model in the right size (medium), shipped express; the 35.00 USD "
            "price difference is waived and a 10.00 USD coupon for the next order is included. Recorded "
            "as one upgrade worth 45.00 USD (35.00 waived + 10.00 coupon): one compensation per step.",
        },
        action="compensation",
    )
    assert status is not None
    demo.say(case, f"compensation by alice: {_issued(status)} — within her 50.00 USD authority; {_due(status)}")
    await _close_out(
        demo,
        case,
        "out-of-stock",
        "Medium was sold out when the replacement was due; upgrade kept the customer.",
        follow_up_note="Loves the premium model.",
    )


async def glasses(demo: Demo, case: DemoCase) -> None:
    ticket = _ticket(
        demo.run_id,
        case.key,
        source="zendesk",
        event="zd-evt-glass",
        ticket="5120",
        name="Ann Gift",
        email="ann@example.com",
        order={"currency": "USD", "total": "96.00", "shipping": "8.00"},
        subject="One of eight glasses arrived broken",
        description="A set of eight wine glasses for a wedding gift; one was shattered in the box.",
        severity="high",
    )
    await open_case(demo, case, ticket)
    await _ack_and_fix(
        demo,
        case,
        "We're so sorry one of your glasses arrived broken.",
        "replacement glass shipped express in reinforced packaging",
    )
    status = await demo.step(
        case,
        "compensation",
        "alice",
        {
            "kind": "refund",
            "amount": {"amount": "96.00", "currency": "USD"},
            "reason": "A broken wedding gift: the full order amount is refunded and the replacement glass is free.",
        },
        action="compensation",
    )
    assert status is not None
    pending = status.get("pending_compensation")
    if pending and pending.get("status") == "pending_approval":
        demo.say(case, "refund 96.00 USD proposed by alice: above her 50.00 USD authority → waiting for approval")
        status = await demo.step(
            case,
            "approval",
            "lena",
            {"approve": True, "note": "Full refund: it was a gift."},
            action="approval by lena",
        )
        assert status is not None
        demo.say(case, f"approved by lena (team-lead): {_issued(status)}; {_due(status)}")
    else:
        demo.say(case, f"compensation: {_issued(status)}; {_due(status)}")
    await _close_out(
        demo, case, "damaged-in-transit", "Carrier crushed the box; packaging reviewed with the warehouse."
    )


async def shipping(demo: Demo, case: DemoCase) -> None:
    contacts = 6
    for n in range(1, contacts + 1):
        ticket = _ticket(
            demo.run_id,
            case.key,
            source="zendesk",
            event=f"zd-evt-99812-{n}",
            ticket=f"4711-{n}",
            name="Dana Example",
            email="dana@example.com",
            order={"currency": "USD", "total": "88.00", "shipping": "7455.00"},
            subject="Shipping charge of $7,455 on an $88 order" + (f" (contact {n})" if n > 1 else ""),
            description="I was charged $7,455 for shipping on an $88 order. "
            + ("This is my first message about it." if n == 1 else f"This is message {n}."),
        )
        result = await demo.post_ticket(case, ticket, f"contact {n}")
        what = "case opened" if result.get("created") else "repeat contact"
        demo.say(case, f"ticket {n}/{contacts} posted by ops-intake → {what} (contacts: {result['contact_count']})")
        if n == 1:
            await demo.view(case)
    data = await demo.view(case)
    demo.say(
        case,
        f"now {data['severity']}, escalation level {data['escalation_level']} "
        f"({data.get('escalation_role')}); nobody acknowledges it yet…",
    )
    data = await demo.wait_for(case, "the ladder's top", lambda d: d["escalation_level"] >= 3, LADDER_WAIT)
    demo.say(
        case,
        f"reached escalation level {data['escalation_level']} ({data.get('escalation_role')}) "
        f"unacknowledged; alice picks it up",
    )
    await _ack_and_fix(
        demo,
        case,
        "We're so sorry: this charge is our mistake and we are reversing it.",
        "shipping charge corrected to 12.00 USD; carrier rate table fixed",
    )
    status = await demo.step(
        case,
        "compensation",
        "alice",
        {
            "kind": "refund",
            "amount": {"amount": "7455.00", "currency": "USD"},
            "reason": "The whole erroneous shipping charge of 7455.00 USD is refunded.",
        },
        action="compensation",
    )
    assert status is not None
    demo.say(case, "refund 7455.00 USD proposed by alice: above her 50.00 USD authority → waiting for approval")
    refused = await demo.step(
        case,
        "approval",
        "lena",
        {"approve": True, "note": "Clearly our error."},
        action="approval by lena (team-lead, approves up to 1000.00 USD)",
        expect=403,
    )
    if refused is not None:
        demo.say(case, f"approved by lena: {_issued(refused)}; {_due(refused)}")
    else:
        status = await demo.step(
            case,
            "approval",
            "max",
            {"approve": True, "note": "Billing error: refund in full."},
            action="approval by max",
        )
        assert status is not None
        demo.say(case, f"approved by max (manager, up to 10000.00 USD): {_issued(status)}; {_due(status)}")
    await _close_out(
        demo,
        case,
        "billing-error",
        "Carrier rate table had a misplaced decimal; fixed and audited for other orders.",
        follow_up_note="Relieved; thanks for the quick refund.",
    )


async def late(demo: Demo, case: DemoCase) -> None:
    ticket = _ticket(
        demo.run_id,
        case.key,
        source="generic",
        event="web-late",
        ticket="W-2210",
        name="Lee Waiting",
        email="lee@example.com",
        order={"currency": "USD", "total": "42.00", "shipping": "6.00"},
        subject="Birthday present arrived a week late",
        description="The order was promised for the 14th and arrived on the 21st.",
        severity="low",
    )
    await open_case(demo, case, ticket)
    await _ack_and_fix(
        demo,
        case,
        "We're sorry your present arrived late.",
        "root cause found: parcel stuck at the regional hub; carrier SLA escalated",
    )
    status = await demo.step(
        case,
        "compensation",
        "alice",
        {
            "kind": "credit",
            "amount": {"amount": "42.00", "currency": "USD"},
            "reason": "The order is on us: store credit of the full order total (42.00 USD), and the membership "
            "is extended by three months (no monetary value recorded for that).",
        },
        action="compensation",
    )
    assert status is not None
    demo.say(case, f"compensation by alice: {_issued(status)} — order made free; {_due(status)}")
    await _close_out(
        demo,
        case,
        "late-delivery",
        "Late hand-over at the regional hub; customer now a fan.",
        follow_up_note="Turned into a win: the customer posted a kind review.",
    )

"""Proactive intake: Stripe's events and the generic order/shipment feed open cases before the
customer complains (the rules of `[proactive]` in the intake file, starter/intake/proactive.py),
through the same `open_case` as tickets. Both are signed and de-duplicated by event id like the
ticket webhooks (`webhook_seen`): a replay is answered 200 and changes nothing. A `charge.refunded`
covering the whole shipping of an overcharge records the fix on its open case, as actor `stripe`."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from starter.api.charges import RecentCharges, SeenCharge
from starter.api.errors import ApiError
from starter.api.intake import _json_object, _mapped, _once, _open, _verified
from starter.api.replays import Duplicate
from starter.api.settings import settings_of, temporal
from starter.api.ticket_events import _FIND_CASE
from starter.cases import CaseError, accept_step
from starter.intake import proactive as rules
from starter.intake.fields import PayloadError
from starter.intake.orders import OrderEvent, order_event, order_party, verify_orders
from starter.intake.proactive import SOURCE, Finding, Party, money, proactive_ticket
from starter.intake.stripe_events import (
    SECRET_ENV,
    Charge,
    Dispute,
    Invoice,
    StripeConfig,
    StripeEvent,
    at,
    charge_party,
    latest_refund,
    stripe_event,
    verify_stripe,
)
from starter.steps import BY_COMMAND
from workflows.complaint import ComplaintWorkflow
from workflows.models import AcknowledgeInput, Actor, ContactResult, FixInput, IgnoredEventInput, workflow_id_for

router = APIRouter(tags=["intake"])
log = logging.getLogger("recovery.api")
_charges = RecentCharges()


class FixResult(BaseModel):
    case_id: str | None
    applied: bool
    refund: str | None = None
    ignored: str | None = None
    """Why no fix was recorded: no open overcharge case, or the case refused it (then also in its timeline)."""


class ProactiveResult(BaseModel):
    event_id: str
    type: str
    matched: list[str] = []
    """The proactive rules the event matched."""
    cases: list[ContactResult] = []
    """The cases they opened (or the contact they added to one open already)."""
    fix: FixResult | None = None
    apologised: list[str] = []
    """The cases acknowledged at once with the rule's apology (the customer's first message)."""
    ignored: str | None = None


_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}}


@router.post(
    "/v1/webhooks/stripe",
    status_code=200,
    response_model=ProactiveResult | Duplicate,  # Duplicate: an event seen before, nothing changed
    summary="Stripe events (Stripe-Signature): proactive cases from charges, refunds and disputes",
    openapi_extra=_BODY,
)
async def post_stripe(request: Request) -> ProactiveResult | JSONResponse:
    settings = settings_of(request)
    raw = await request.body()  # Stripe signs these exact bytes
    received = settings.clock()
    config = settings.intake.stripe or StripeConfig()
    secrets = config.signing_secrets()
    if not secrets:
        raise ApiError(404, "not_found", f"Stripe webhooks are not configured ({SECRET_ENV} or [stripe] secrets)")
    payload = _json_object(raw, settings.intake)  # size, depth, one JSON object: before Stripe's library parses it
    try:
        _verified("stripe", lambda: verify_stripe(request.headers, raw, config, secrets))
    except PayloadError as err:
        raise ApiError(400, "bad_request", str(err)) from None
    event, found = _mapped(lambda: stripe_event(payload))

    async def handle() -> ProactiveResult:
        return await _stripe(request, config, event, found, received)

    return await _once(request, "stripe", f"event:{event.id}", received, handle)


@router.post(
    "/v1/webhooks/orders",
    status_code=200,
    response_model=ProactiveResult | Duplicate,  # Duplicate: an event seen before, nothing changed
    summary="Signed order and shipment events: proactive cases for overcharges and late deliveries",
    openapi_extra=_BODY,
)
async def post_orders(request: Request) -> ProactiveResult | JSONResponse:
    settings = settings_of(request)
    raw = await request.body()
    received = settings.clock()
    config = settings.intake.orders
    if config is None:
        raise ApiError(404, "not_found", "the order feed is not configured ([orders] in the intake file)")
    _verified("orders", lambda: verify_orders(request.headers, raw, config, received))
    payload = _json_object(raw, settings.intake)
    event = _mapped(lambda: order_event(payload))

    async def handle() -> ProactiveResult:
        return await _orders(request, event)

    return await _once(request, "orders", f"event:{event.id}", received, handle)


# --- the generic order feed -------------------------------------------------------------------


async def _orders(request: Request, event: OrderEvent) -> ProactiveResult:
    proactive = settings_of(request).intake.proactive
    party = order_party(event.order)
    result = ProactiveResult(event_id=event.id, type=event.type)
    finding: Finding | None = None
    details = ""
    if event.type in ("order.placed", "order.charged"):
        goods, shipping = event.order.goods(), event.order.shipping
        if goods is not None and shipping is not None:
            finding = rules.overcharge(proactive.overcharge, party, goods, shipping)
            lines = [
                f"- {item.quantity} × {item.name}: {money(item.unit_price, party.currency)}"
                for item in event.order.line_items
            ]
            details = "\n".join(lines[:50])
    elif event.shipment is not None:
        shipment = event.shipment
        expected = shipment.expected_at
        finding = rules.late_delivery(
            proactive.late_delivery, party, shipment.id, shipment.promised_at, expected, shipment.reason
        )
        if finding is not None and shipment.carrier:
            details = f"Carrier: {shipment.carrier}, shipment {shipment.id}"
    if finding is not None:
        await _open_finding(request, result, finding, party, event.occurred_at, "orders", details)
    else:
        result.ignored = f"{event.type} matched no proactive rule"
    return result


# --- Stripe -------------------------------------------------------------------------------------


async def _stripe(
    request: Request, config: StripeConfig, event: StripeEvent, found: Charge | Dispute | Invoice | None, now: datetime
) -> ProactiveResult:
    result = ProactiveResult(event_id=event.id, type=event.type)
    if found is None:
        result.ignored = f"{event.type} is not an event the engine acts on"
        return result
    if isinstance(found, Invoice):
        result.ignored = "a failed invoice payment matches no proactive rule"
        return result
    occurred = at(event.created)
    if isinstance(found, Dispute):
        party = await _dispute_party(request, found, config)
        charge_id = found.charge if isinstance(found.charge, str) else found.charge.id
        amount = rules.from_minor(found.amount, found.currency.upper())
        finding = rules.payment_dispute(
            settings_of(request).intake.proactive.payment_dispute, party, found.id, charge_id, amount, found.reason
        )
        if finding is None:
            result.ignored = "the payment_dispute rule is off"
        else:
            await _open_finding(request, result, finding, party, occurred, "stripe")
        return result
    charge = found
    found_party = _mapped(lambda: charge_party(charge, config.metadata))
    if found_party is None:
        result.ignored = f"the charge names no customer (metadata {config.metadata.customer_id!r} or customer)"
        return result
    party = found_party
    if event.type == "charge.refunded":
        result.fix = await _refund_fix(request, charge, party)
        return result
    overcharged = _overcharge(request, party)
    if overcharged is not None:
        await _open_finding(request, result, overcharged, party, occurred, "stripe")
    duplicate = await _duplicate(request, config, charge, party, now)
    if duplicate is not None:
        await _open_finding(request, result, duplicate, party, occurred, "stripe")
    if not result.matched:
        result.ignored = "the charge matched no proactive rule"
    return result


def _overcharge(request: Request, party: Party) -> Finding | None:
    if party.shipping is None or party.total is None:
        return None
    rule = settings_of(request).intake.proactive.overcharge
    return rules.overcharge(rule, party, party.total - party.shipping, party.shipping)


async def _pool(request: Request) -> Any:
    settings = settings_of(request)
    if settings.database is None:
        return None
    try:
        return await settings.database()
    except ApiError:  # PostgreSQL down: the rules that need it are skipped, the others still run
        return None


async def _duplicate(
    request: Request, config: StripeConfig, charge: Charge, party: Party, now: datetime
) -> Finding | None:
    pool = await _pool(request)
    if pool is None:
        log.warning("duplicate_charge skipped: no database", extra={"charge_id": charge.id})
        return None
    seen = SeenCharge(charge.id, party.customer_id, party.order_id, charge.amount, party.currency, at(charge.created))
    await _charges.record(pool, seen, now, timedelta(days=config.charge_retention_days))
    rule = settings_of(request).intake.proactive.duplicate_charge
    if not rule.enabled:
        return None
    other = await _charges.same_within(pool, seen, rule.window)
    if other is None:
        return None
    amount = rules.from_minor(charge.amount, party.currency)
    return rules.duplicate_charge(rule, party, amount, other.charge_id, charge.id, seen.charged_at - other.charged_at)


async def _dispute_party(request: Request, dispute: Dispute, config: StripeConfig) -> Party:
    """A dispute's customer and order: from its charge when expanded, else its own metadata, else the
    charge as seen before (recent_charges), else a customer named after the charge (no order)."""
    currency = dispute.currency.upper()
    if isinstance(dispute.charge, Charge):
        expanded = _mapped(lambda: charge_party(dispute.charge, config.metadata))  # type: ignore[arg-type]
        if expanded is not None:
            return expanded
        charge_id = dispute.charge.id
    else:
        charge_id = dispute.charge
    reference = charge_id if charge_id.startswith("ch_") else None
    keys = config.metadata
    customer = dispute.metadata.get(keys.customer_id, "").strip()
    if customer:
        as_charge = Charge.model_validate(
            {
                "id": charge_id,
                "object": "charge",
                "amount": dispute.amount,
                "currency": currency,
                "created": dispute.created,
                "metadata": dispute.metadata,
            }
        )
        mapped = _mapped(lambda: charge_party(as_charge, keys))
        if mapped is not None:
            return mapped
    pool = await _pool(request)
    seen = await _charges.find(pool, charge_id) if pool is not None else None
    if seen is not None:
        return Party(seen.customer_id, None, None, seen.order_id, currency, payment_reference=reference)
    unknown = rules.identifier(f"stripe-{charge_id}")
    return Party(unknown, f"Stripe customer of charge {charge_id}", None, None, currency, payment_reference=reference)


async def _refund_fix(request: Request, charge: Charge, party: Party) -> FixResult:
    """A refund of at least the whole shipping of an overcharge records the fix on its open case."""
    finding = _overcharge(request, party)
    if finding is None or party.shipping is None:
        return FixResult(case_id=None, applied=False, ignored="the refunded charge was no overcharge")
    refunded = rules.from_minor(charge.amount_refunded, party.currency)
    if refunded < party.shipping:
        return FixResult(
            case_id=None,
            applied=False,
            ignored=f"the refund of {money(refunded, party.currency)} does not cover the overcharged "
            f"shipping of {money(party.shipping, party.currency)}",
        )
    ticket = proactive_ticket(finding, party, at(charge.created), "stripe")
    pool = await _pool(request)
    row = await pool.fetchrow(_FIND_CASE, SOURCE, ticket.ticket_id) if pool is not None else None
    workflow_id = row["workflow_id"] if row is not None else workflow_id_for(ticket.case_key)
    case_id = workflow_id.removeprefix("complaint-")
    refund = latest_refund(charge)
    refund_id = refund.id if refund is not None else None
    note = (
        f"Refunded {money(refunded, party.currency)} at Stripe (refund {refund_id or 'id not in the event'}, "
        f"charge {charge.id}): the overcharged shipping of {money(party.shipping, party.currency)}."
    )
    settings = settings_of(request)
    actor = Actor(id="stripe", role=settings.policy.assignee_role)
    client = await temporal(request)
    fix = BY_COMMAND["fix"]  # the agents' record_fix step, as `recovery fix` and POST …/fix run it
    try:
        await accept_step(client, workflow_id, fix.update, FixInput(actor=actor, description=note))
    except CaseError as err:
        if err.code == "not_found":
            return FixResult(case_id=None, applied=False, refund=refund_id, ignored="no open overcharge case")
        if err.code != "closed":
            try:  # e.g. not acknowledged yet: the agents see why the refund recorded nothing
                await accept_step(
                    client,
                    workflow_id,
                    ComplaintWorkflow.record_ignored,
                    IgnoredEventInput(
                        event_id=f"stripe:refund:{refund_id or charge.id}",
                        source="stripe",
                        rule="charge.refunded",
                        step="record_fix",
                        reason=f"{note} Not recorded as the fix: {err.message}"[:2000],
                    ),
                )
            except CaseError as again:
                log.warning("could not record an ignored refund", extra={"case_id": case_id, "reason": again.message})
        return FixResult(case_id=case_id, applied=False, refund=refund_id, ignored=err.message)
    return FixResult(case_id=case_id, applied=True, refund=refund_id)


async def _open_finding(
    request: Request,
    result: ProactiveResult,
    finding: Finding,
    party: Party,
    occurred: datetime,
    origin: str,
    details: str = "",
) -> None:
    ticket = _mapped(lambda: proactive_ticket(finding, party, occurred, origin, details))
    result.matched.append(finding.rule)
    opened = await _open(request, ticket)
    result.cases.append(opened)
    # The finding opened the case (or did, on an earlier attempt of this delivery: its only contact so
    # far): the customer hears from us first, before they contact us.
    if finding.apology and (opened.created or (opened.duplicate and opened.contact_count == 1)):
        if await _apologise(request, opened.workflow_id, finding.apology):
            result.apologised.append(opened.case_id)


PROACTIVE_ACTOR = Actor(id="proactive", role="engine")


async def _apologise(request: Request, workflow_id: str, apology: str) -> bool:
    """The agents' acknowledge step, run as actor `proactive` with the rule's apology: the customer's
    acknowledgement ("We're sorry …") goes out at once. False when the case refused it (e.g. an agent
    acknowledged it already) or Temporal did not answer; an agent then acknowledges it as usual."""
    acknowledge = BY_COMMAND["ack"]  # as `recovery ack` and POST …/acknowledge run it
    try:
        client = await temporal(request)
        await accept_step(
            client, workflow_id, acknowledge.update, AcknowledgeInput(actor=PROACTIVE_ACTOR, message=apology)
        )
    except CaseError as err:
        log.info("proactive case not acknowledged", extra={"workflow_id": workflow_id, "reason": err.message})
        return False
    return True

"""Proactive recovery: rules over payment and order events that open a case before the customer
complains (`[proactive.<rule>]` in the intake file, next to the ticket-event rules).

`overcharge` (shipping above `shipping_ratio` × the goods, or above an absolute `limit`),
`duplicate_charge` (the same customer, amount and currency again within `window`), `late_delivery`
(the new date later than the promised one by more than `grace`) and `payment_dispute` (any dispute).
Each names the severity of the case it opens and its message template. A finding becomes a
`TicketEvent` with `source = "proactive"`, opened through the same `open_case` as tickets: a later
ticket about the same customer and order joins the case as a contact. Pure."""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from starter.intake.fields import _customer, _ticket
from workflows.case import PROACTIVE_SOURCE
from workflows.durations import Duration, format_duration
from workflows.models import TicketEvent
from workflows.money import Amount, Currency, minor_units
from workflows.policy import Severity

SOURCE = PROACTIVE_SOURCE  # the step machine opens such a case with no contact yet


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    placeholders: ClassVar[frozenset[str]] = frozenset({"order", "customer"})
    enabled: bool = True
    severity: Severity
    message: str = Field(min_length=1, max_length=1000)
    """A template: `{order}`, `{customer}` and the rule's own placeholders (docs/ops.md)."""
    apology: str = Field("", max_length=2000)
    """The customer's first message, sent at once as the case's acknowledgement (same placeholders);
    empty: the case waits for an agent to acknowledge it."""

    @model_validator(mode="after")
    def _known_placeholders(self) -> _Rule:
        for field_name in ("message", "apology"):
            try:
                text = getattr(self, field_name)
                names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
            except ValueError as err:
                raise ValueError(f"{field_name}: {err}") from None
            unknown = sorted(n for n in names if n not in self.placeholders)
            if unknown:
                known = ", ".join("{" + p + "}" for p in sorted(self.placeholders))
                raise ValueError(f"{field_name}: unknown placeholder {{{unknown[0]}}} (known: {known})")
        return self

    def render(self, facts: dict[str, str], template: str | None = None) -> str:
        text = self.message if template is None else template
        return text.format_map({name: facts.get(name, "") for name in self.placeholders})

    def found(self, rule: str, facts: dict[str, str], ref: str) -> Finding:
        return Finding(rule, self.severity, self.render(facts), ref, self.render(facts, self.apology))


class OverchargeRule(_Rule):
    placeholders = frozenset({"order", "customer", "shipping", "goods", "total", "ratio", "limit"})
    severity: Severity = Severity.CRITICAL
    message: str = "Shipping of {shipping} charged on goods of {goods} ({ratio}× the goods), order {order}"
    apology: str = (
        "We charged {shipping} for shipping on goods of {goods} (order {order}). That is our mistake, not yours: "
        "we are refunding the overcharged shipping now. You do not need to do anything."
    )
    shipping_ratio: Decimal = Field(Decimal(5), gt=0)
    """Shipping above this many times the goods is an overcharge."""
    limit: dict[Currency, Amount] = {}
    """Shipping above this amount (per currency, e.g. `limit = { USD = "500.00" }`) is one too."""


class DuplicateChargeRule(_Rule):
    placeholders = frozenset({"order", "customer", "amount", "charges", "apart", "window"})
    severity: Severity = Severity.HIGH
    message: str = "Charged {amount} twice within {apart} ({charges}), order {order}"
    apology: str = (
        "We charged you {amount} twice for order {order}. That is our mistake: we are refunding the second "
        "charge now. You do not need to do anything."
    )
    window: Duration = timedelta(minutes=10)


class LateDeliveryRule(_Rule):
    placeholders = frozenset({"order", "customer", "promised", "expected", "late", "reason", "shipment"})
    severity: Severity = Severity.NORMAL
    message: str = "Order {order} will arrive {late} late: promised {promised}, now expected {expected}"
    apology: str = (
        "Your order {order} will arrive {late} later than we promised. We are following it up with the carrier "
        "and will tell you as soon as it is on its way again."
    )
    grace: Duration = timedelta(hours=24)


class PaymentDisputeRule(_Rule):
    placeholders = frozenset({"order", "customer", "amount", "reason", "charge", "dispute"})
    severity: Severity = Severity.HIGH
    message: str = "The customer disputed {amount} on charge {charge} (reason: {reason}), order {order}"
    apology: str = (
        "We saw that you disputed {amount} for order {order}. We are sorry something went wrong: we are looking "
        "into it now and will write to you with what we found."
    )


class ProactiveRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    overcharge: OverchargeRule = OverchargeRule()
    duplicate_charge: DuplicateChargeRule = DuplicateChargeRule()
    late_delivery: LateDeliveryRule = LateDeliveryRule()
    payment_dispute: PaymentDisputeRule = PaymentDisputeRule()


# --- what an event is about -----------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    """The customer and order a payment or order event is about."""

    customer_id: str
    customer_name: str | None
    customer_email: str | None
    order_id: str | None
    currency: str
    total: Decimal | None = None
    shipping: Decimal | None = None
    payment_reference: str | None = None
    """The Stripe payment (`pi_…` / `ch_…`): refunds go to it."""


def money(amount: Decimal, currency: str) -> str:
    return f"{amount:.{minor_units(currency)}f} {currency}"


def from_minor(amount: int, currency: str) -> Decimal:
    return Decimal(amount).scaleb(-minor_units(currency))


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    message: str
    ref: str
    """What the finding is about (order, charge pair, shipment, dispute): its ticket id and event id."""
    apology: str = ""
    """The rule's apology, rendered: the case's acknowledgement when the finding opens it."""


def _facts(party: Party, **more: str) -> dict[str, str]:
    return {"order": party.order_id or "(none)", "customer": party.customer_name or party.customer_id, **more}


def overcharge(rule: OverchargeRule, party: Party, goods: Decimal, shipping: Decimal) -> Finding | None:
    """Shipping above `shipping_ratio` × goods, or above the limit (goods of zero, e.g. a free
    sample: only the limit applies)."""
    if not rule.enabled or shipping <= 0:
        return None
    limit = rule.limit.get(party.currency)
    over_ratio = goods > 0 and shipping > rule.shipping_ratio * goods
    over_limit = limit is not None and shipping > limit
    if not (over_ratio or over_limit):
        return None
    ratio = f"{(shipping / goods).quantize(Decimal('0.1'))}" if goods > 0 else "∞"
    facts = _facts(
        party,
        shipping=money(shipping, party.currency),
        goods=money(goods, party.currency),
        total=money(goods + shipping, party.currency),
        ratio=ratio,
        limit=money(limit, party.currency) if limit is not None else "none",
    )
    return rule.found("overcharge", facts, party.order_id or party.payment_reference or "?")


def late_delivery(
    rule: LateDeliveryRule,
    party: Party,
    shipment: str,
    promised: datetime,
    expected: datetime | None,
    reason: str = "",
) -> Finding | None:
    """The new date later than the promised one by more than `grace`; a shipment exception with no
    new date at all matches too (the promise can no longer be kept)."""
    if not rule.enabled:
        return None
    if expected is not None and expected - promised <= rule.grace:
        return None
    late = format_duration(expected - promised) if expected is not None else "an unknown time"
    facts = _facts(
        party,
        promised=promised.isoformat(),
        expected=expected.isoformat() if expected is not None else "unknown",
        late=late,
        reason=reason or "delayed",
        shipment=shipment,
    )
    ref = f"{shipment}-{expected.strftime('%Y%m%dT%H%M') if expected is not None else 'exception'}"
    return rule.found("late_delivery", facts, ref)


def duplicate_charge(
    rule: DuplicateChargeRule, party: Party, amount: Decimal, first: str, second: str, apart: timedelta
) -> Finding | None:
    if not rule.enabled:
        return None
    facts = _facts(
        party,
        amount=money(amount, party.currency),
        charges=f"{first}, {second}",
        apart=format_duration(abs(apart)),
        window=format_duration(rule.window),
    )
    earlier, later = sorted((first, second))
    return rule.found("duplicate_charge", facts, f"{earlier}-{later}")


def payment_dispute(
    rule: PaymentDisputeRule, party: Party, dispute: str, charge: str, amount: Decimal, reason: str
) -> Finding | None:
    if not rule.enabled:
        return None
    facts = _facts(
        party, amount=money(amount, party.currency), reason=reason or "unknown", charge=charge, dispute=dispute
    )
    return rule.found("payment_dispute", facts, dispute)


# --- the case a finding opens ----------------------------------------------------------------

_NOT_ID = re.compile(r"[^A-Za-z0-9._@-]+")
TITLES = {
    "overcharge": "Overcharge",
    "duplicate_charge": "Duplicate charge",
    "late_delivery": "Late delivery",
    "payment_dispute": "Payment dispute",
}


def identifier(text: str) -> str:
    """`text` as a ticket id (1-80 of letters, digits, `._@-`); a longer one is shortened with its hash."""
    cleaned = _NOT_ID.sub("-", text).strip("-._@") or "x"
    if len(cleaned) <= 80:
        return cleaned
    return f"{cleaned[:60]}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def ticket_id(rule: str, ref: str) -> str:
    return identifier(f"{rule}-{ref}")


def proactive_ticket(
    finding: Finding, party: Party, occurred_at: datetime, origin: str, details: str = ""
) -> TicketEvent:
    """The ticket event of a finding: a case keyed `<customer>:<order>` like any ticket's (a later
    ticket about the order joins it), at the rule's severity. `origin` names the feed (stripe, orders)."""
    order: dict[str, Any] | None = None
    if party.order_id is not None:
        order = {"id": party.order_id, "currency": party.currency}
        if party.total is not None:
            order["total"] = str(party.total)
        if party.shipping is not None:
            order["shipping"] = str(party.shipping)
        if party.payment_reference is not None:
            order["payment_reference"] = party.payment_reference
    description = finding.message + (f"\n\n{details}" if details else "") + f"\n\nDetected from {origin} events."
    return _ticket(
        source=SOURCE,
        event_id=f"{SOURCE}:{finding.rule}:{finding.ref}"[:200],
        ticket_id=ticket_id(finding.rule, finding.ref),
        customer=_customer(party.customer_id, party.customer_name, party.customer_email),
        order=order,
        subject=f"{TITLES.get(finding.rule, finding.rule)}: {' '.join(finding.message.split())}",
        description=description,
        severity=finding.severity,
        occurred_at=occurred_at,
        tags=[SOURCE, finding.rule, origin],
    )

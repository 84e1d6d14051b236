"""The console's offer of remedies: the form (up to four options, each a kind, an amount and the
customer's wording; the default; how long the customer has) and its input for the `offer` update."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from workflows.models import CompensationKind, Offer
from workflows.policy import Policy

MAX_OPTIONS = 4


def offer_fields(policy: Policy, currencies: list[str], field: Any) -> list[Any]:
    """The form's fields (`field` is console.views.Field)."""
    kinds = [(k.value, k.value) for k in CompensationKind if k is not CompensationKind.NONE]
    fields = []
    for n in range(1, MAX_OPTIONS + 1):
        required = n <= 2  # an offer has two options at least; the page adds "—" to the others
        fields += [
            field(f"option{n}_kind", f"Option {n}: kind", "select", required, [("", "(choose)")] * required + kinds),
            field(f"option{n}_amount", f"Option {n}: amount", "number", hint="For refund, credit and coupon."),
            field(f"option{n}_label", f"Option {n}: as the customer reads it (optional)"),
        ]
    hours = int(policy.offers.choice_window.total_seconds() // 3600) or 1
    fields += [
        field("currency", "Currency", "select", True, [(c, c) for c in currencies]),
        field("default", "Default option", "select", True, [(str(n), str(n)) for n in range(1, MAX_OPTIONS + 1)]),
        field("choose_within", "The customer chooses within (hours)", "number", True, value=str(hours)),
        field("reason", "Reason", "textarea"),
    ]
    return fields


def offer_facts(policy: Policy) -> list[str]:
    if policy.offers.on_expiry == "issue_default":
        then = "the default option is issued"
    else:
        then = "you are told, and compensate yourself"
    return [
        "Each option must be within your authority: the customer's pick is issued without approval.",
        f"Nothing picked by the deadline: {then}.",
    ]


def offer_input(form: dict[str, str], now: datetime | None = None) -> dict[str, Any]:
    """The `offer` update's fields (without the actor) from the submitted form."""
    get = lambda name: form.get(name, "").strip()
    currency = get("currency") or "USD"
    options = []
    for n in range(1, MAX_OPTIONS + 1):
        kind = get(f"option{n}_kind")
        if not kind:
            continue
        option: dict[str, Any] = {"kind": kind}
        if get(f"option{n}_amount"):
            option["amount"] = {"amount": get(f"option{n}_amount"), "currency": currency}
        if get(f"option{n}_label"):
            option["label"] = get(f"option{n}_label")
        options.append(option)
    fields: dict[str, Any] = {"options": options, "default": get("default") or "1", "reason": get("reason")}
    within = get("choose_within")
    try:
        hours = Decimal(within) if within else None
    except ArithmeticError:
        hours = None
    if hours is not None and hours.is_finite() and 0 < hours <= 24 * 365:
        fields["choose_by"] = (now or datetime.now(UTC)) + timedelta(hours=float(hours))
    elif within:
        fields["choose_by"] = "not a number of hours"  # refused by the input's own check, with the field named
    return fields


def offer_lines(offer: Offer) -> list[str]:
    """The offer as the console lists it."""
    lines = []
    for n, option in enumerate(offer.options, 1):
        mark = " (default)" if n == offer.default else ""
        chosen = " ← chosen" if offer.picked == n else ""
        lines.append(f"{n}. {option.describe()}{mark}{chosen}")
    return lines

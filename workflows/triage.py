"""Triage at intake: anomaly rules from the policy that raise a new case's severity and say why."""

from __future__ import annotations

from decimal import Decimal

from workflows.models import TicketEvent
from workflows.policy import Policy, Severity


def anomalies(ticket: TicketEvent, policy: Policy) -> list[str]:
    """Human-readable anomalies of the ticket's order, e.g. the $7,455 shipping on an $88 order."""
    order = ticket.order
    if order is None:
        return []
    rules = policy.triage
    found = []
    total, shipping = order.total, order.shipping
    if rules.shipping_to_total_ratio is not None and total and shipping is not None and total > 0:
        ratio = shipping / total
        if ratio >= rules.shipping_to_total_ratio:
            found.append(
                f"shipping charge {shipping} {order.currency} is {ratio.quantize(Decimal('0.1'))}x "
                f"the order total {total} {order.currency}"
            )
    threshold = rules.charge_threshold.get(order.currency)
    if threshold is not None:
        for name, amount in (("order total", total), ("shipping charge", shipping)):
            if amount is not None and amount > threshold:
                found.append(f"{name} {amount} {order.currency} is above the {threshold} {order.currency} threshold")
    return found


def opening_severity(ticket: TicketEvent, policy: Policy, found: list[str]) -> Severity:
    severity = ticket.severity or policy.default_severity
    if found and policy.triage.anomaly_severity.rank > severity.rank:
        return policy.triage.anomaly_severity
    return severity

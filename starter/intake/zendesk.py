"""Zendesk webhooks to ticket events: a trigger/automation body (shape a) or an event-subscribed
envelope (shape b); see docs/ops.md for the body to configure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starter.intake.config import ZendeskConfig
from starter.intake.fields import (
    PayloadError,
    _amount_text,
    _aware_time,
    _customer,
    _link,
    _object,
    _require,
    _scalar_text,
    _severity,
    _ticket,
)
from workflows.models import TicketEvent

ZENDESK_EVENT_PREFIX = "zen:event-type:"
ZENDESK_TICKET_CREATED = "zen:event-type:ticket.created"


def zendesk_ticket(payload: dict[str, Any], config: ZendeskConfig, received_at: datetime) -> TicketEvent | None:
    """Map a verified Zendesk webhook body (trigger body or event envelope) to a ticket event.

    None for event-subscribed events other than ticket.created (nothing to open)."""
    if not isinstance(payload, dict):
        raise PayloadError("body must be a JSON object")
    kind = payload.get("type")
    if isinstance(kind, str) and kind.startswith(ZENDESK_EVENT_PREFIX):
        if kind != ZENDESK_TICKET_CREATED:
            return None
        return _zendesk_envelope(payload, config, received_at)
    return _zendesk_trigger(payload, config, received_at)


def _zendesk_trigger(payload: dict[str, Any], config: ZendeskConfig, received_at: datetime) -> TicketEvent:
    ticket_id = _require(payload, "ticket_id", "")
    subject = _require(payload, "subject", "")
    requester = _object(payload, "requester", "")
    requester_id = _require(requester, "id", "requester.")
    name = _scalar_text(requester.get("name")) or f"Zendesk user {requester_id}"
    order = None
    order_data = _object(payload, "order", "", required=False)
    if order_data is not None:
        order_id = _scalar_text(order_data.get("id"))
        if order_id is not None:
            order = {
                "id": order_id,
                "currency": _scalar_text(order_data.get("currency")) or config.default_currency,
                "total": _amount_text(order_data.get("total"), "order.total"),
                "shipping": _amount_text(order_data.get("shipping"), "order.shipping"),
            }
            payment = _scalar_text(order_data.get("payment_reference"))
            if payment is not None:  # the order's Stripe payment (pi_… / ch_…): refunds go to it
                order["payment_reference"] = payment
    url = _link(payload.get("url"))
    if url is None and config.base_url:
        url = f"{config.base_url}/agent/tickets/{ticket_id}"
    description = payload.get("description")
    return _ticket(
        source="zendesk",
        event_id=_scalar_text(payload.get("event_id")) or f"zendesk:ticket:{ticket_id}",
        ticket_id=ticket_id,
        customer=_customer(f"zd-user-{requester_id}", name, _scalar_text(requester.get("email"))),
        order=order,
        subject=subject,
        description=description if isinstance(description, str) else "",
        severity=_severity(payload.get("priority"), config.priority_map),
        occurred_at=_aware_time(payload.get("updated_at")) or received_at,
        url=url,
        **_routing(payload),
    )


def _zendesk_envelope(payload: dict[str, Any], config: ZendeskConfig, received_at: datetime) -> TicketEvent:
    detail = _object(payload, "detail", "")
    ticket_id = _require(detail, "id", "detail.")
    subject = _require(detail, "subject", "detail.")
    requester_id = _require(detail, "requester_id", "detail.")
    order = None
    if config.order_field:
        fields = detail.get("custom_fields") or []
        if not isinstance(fields, list):
            raise PayloadError("detail.custom_fields: must be a list")
        for field in fields:
            if isinstance(field, dict) and _scalar_text(field.get("id")) == config.order_field:
                order_id = _scalar_text(field.get("value"))
                if order_id is not None:
                    order = {"id": order_id, "currency": config.default_currency}
                break
    description = detail.get("description")
    return _ticket(
        source="zendesk",
        event_id=f"zendesk:ticket:{ticket_id}",
        ticket_id=ticket_id,
        customer=_customer(f"zd-user-{requester_id}", f"Zendesk user {requester_id}", None),
        order=order,
        subject=subject,
        description=description if isinstance(description, str) else "",
        severity=_severity(detail.get("priority"), config.priority_map),
        occurred_at=_aware_time(detail.get("created_at")) or _aware_time(payload.get("time")) or received_at,
        url=f"{config.base_url}/agent/tickets/{ticket_id}" if config.base_url else None,
        **_routing(detail),
    )


def _routing(data: dict[str, Any]) -> dict[str, Any]:
    """What policy rules match on: `brand_id`, `group_id` and `tags` (a list, or the space-separated
    text of the {{ticket.tags}} placeholder)."""
    tags = data.get("tags")
    if isinstance(tags, str):
        tags = tags.split()
    routing: dict[str, Any] = {"brand": _scalar_text(data.get("brand_id")), "group": _scalar_text(data.get("group_id"))}
    if isinstance(tags, list):
        routing["tags"] = [str(t) for t in tags if isinstance(t, (str, int)) and str(t).strip()][:50]
    return routing

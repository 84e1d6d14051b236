"""Zendesk webhooks to ticket events: a trigger/automation body (shape a) or an event-subscribed
envelope (shape b); see docs/ops.md for the body to configure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starter.intake.config import ZendeskConfig
from starter.intake.events import OwnEvent, TicketActivity, is_own_comment
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


# --- ticket events on an open case ---------------------------------------------------------

ZENDESK_COMMENT_ADDED = "zen:event-type:ticket.comment_added"
ZENDESK_STATUS_CHANGED = "zen:event-type:ticket.status_changed"


def zendesk_activity(payload: dict[str, Any], config: ZendeskConfig) -> TicketActivity | OwnEvent | None:
    """A comment or status change on a ticket: the event-subscription envelope
    (`zen:event-type:ticket.comment_added` / `ticket.status_changed`) or a trigger body with
    `"event": "comment_added" | "status_changed"`. None for anything else (ticket creation included)."""
    kind = payload.get("type")
    if kind in (ZENDESK_COMMENT_ADDED, ZENDESK_STATUS_CHANGED):
        detail = _object(payload, "detail", "")
        ticket_id = _require(detail, "id", "detail.")
        event = _object(payload, "event", "")
        envelope_id = _scalar_text(payload.get("id"))
        if kind == ZENDESK_STATUS_CHANGED:
            status = _require(event, "current", "event.")
            return TicketActivity(
                source="zendesk",
                ticket_id=ticket_id,
                kind="status",
                status=status.lower(),
                event_id=f"zendesk:{envelope_id or f'status:{ticket_id}:{status.lower()}'}",
            )
        comment = _object(event, "comment", "event.")
        author = _object(comment, "author", "event.comment.")
        return _comment(
            config,
            ticket_id,
            comment_id=_require(comment, "id", "event.comment."),
            body=_scalar_text(comment.get("body")) or "",
            public=comment.get("is_public") is not False,
            author_id=_require(author, "id", "event.comment.author."),
            requester_id=_scalar_text(detail.get("requester_id")),
            staff=author.get("is_staff") is True,
        )
    trigger_event = payload.get("event")
    if trigger_event not in ("comment_added", "status_changed"):
        return None
    ticket_id = _require(payload, "ticket_id", "")
    if trigger_event == "status_changed":
        status = _require(payload, "status", "").lower()
        stamp = _scalar_text(payload.get("updated_at")) or ""
        return TicketActivity(
            source="zendesk",
            ticket_id=ticket_id,
            kind="status",
            status=status,
            event_id=_scalar_text(payload.get("event_id")) or f"zendesk:status:{ticket_id}:{status}:{stamp}",
        )
    comment = _object(payload, "comment", "")
    requester = _object(payload, "requester", "", required=False) or {}
    return _comment(
        config,
        ticket_id,
        comment_id=_require(comment, "id", "comment."),
        body=_scalar_text(comment.get("body")) or "",
        public=comment.get("public") is not False,
        author_id=_require(comment, "author_id", "comment."),
        requester_id=_scalar_text(requester.get("id")),
        staff=str(comment.get("author_role", "")).lower() in ("agent", "admin"),
    )


def _comment(
    config: ZendeskConfig,
    ticket_id: str,
    *,
    comment_id: str,
    body: str,
    public: bool,
    author_id: str,
    requester_id: str | None,
    staff: bool,
) -> TicketActivity | OwnEvent | None:
    if is_own_comment(body, author_id, config.api_user_id):
        return OwnEvent(reason="the engine's own comment")
    if not public:
        return None  # internal notes between agents drive nothing
    by_customer = author_id == requester_id or not staff
    return TicketActivity(
        source="zendesk",
        ticket_id=ticket_id,
        event_id=f"zendesk:comment:{comment_id}",
        kind="customer_reply" if by_customer else "agent_reply",
        author=author_id,
        text=body,
    )

"""Jira webhooks to ticket events: `jira:issue_created` and `jira:issue_updated` (one issue is one contact)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from starter.intake.config import JiraConfig
from starter.intake.events import OwnEvent, TicketActivity, is_own_comment
from starter.intake.fields import (
    PayloadError,
    _amount_text,
    _customer,
    _object,
    _require,
    _scalar_text,
    _severity,
    _ticket,
)
from workflows.models import TicketEvent

JIRA_TICKET_EVENTS = frozenset({"jira:issue_created", "jira:issue_updated"})


def _adf_text(node: Any) -> list[str]:
    """Text nodes of an Atlassian Document Format tree, in document order."""
    if isinstance(node, list):
        return [text for child in node for text in _adf_text(child)]
    if not isinstance(node, dict):
        return []
    texts = []
    if node.get("type") == "text" and isinstance(node.get("text"), str):
        texts.append(node["text"])
    texts.extend(_adf_text(node.get("content")))
    return texts


def _jira_description(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return " ".join(t.strip() for t in _adf_text(value) if t.strip())
    return ""


def _field_text(value: Any) -> str | None:
    """A Jira field value as text: strings and numbers, or the `value`/`displayName`/`name` of an object."""
    if isinstance(value, dict):
        for key in ("value", "displayName", "name"):
            text = _field_text(value.get(key))
            if text is not None:
                return text
        return None
    if isinstance(value, float):
        return _amount_text(value, "field")
    return _scalar_text(value)


_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9._@-]")


def jira_ticket(
    payload: dict[str, Any], headers: Mapping[str, str], config: JiraConfig, received_at: datetime
) -> TicketEvent | None:
    """Map a verified Jira webhook body to a ticket event; None for events other than issue created/updated.

    `headers` is accepted for the HTTP layer's convenience and not used: deliveries are deduplicated by
    the event id `jira:<issue key>`, not by `X-Atlassian-Webhook-Identifier`."""
    if not isinstance(payload, dict):
        raise PayloadError("body must be a JSON object")
    event = _scalar_text(payload.get("webhookEvent"))
    if event is None:
        raise PayloadError("webhookEvent: required field is missing or empty")
    if event not in JIRA_TICKET_EVENTS:
        return None
    issue = _object(payload, "issue", "")
    key = _require(issue, "key", "issue.")
    fields = _object(issue, "fields", "issue.")
    subject = _require(fields, "summary", "issue.fields.")
    reporter_value = fields.get("reporter")
    reporter: dict[str, Any] = reporter_value if isinstance(reporter_value, dict) else {}

    customer_id = _field_text(fields.get(config.customer_id_field)) if config.customer_id_field else None
    if customer_id is None:
        account = _scalar_text(reporter.get("accountId"))
        if account is None:
            where = f"issue.fields.{config.customer_id_field} or " if config.customer_id_field else ""
            raise PayloadError(f"{where}issue.fields.reporter.accountId: required field is missing or empty")
        # Atlassian account ids may hold ':' (557058:f581…), which customer ids do not allow.
        customer_id = "jira-" + _NOT_IDENTIFIER.sub("_", account)
    name = _field_text(fields.get(config.customer_name_field)) if config.customer_name_field else None
    name = name or _scalar_text(reporter.get("displayName")) or "Jira reporter"

    order = None
    order_id = _field_text(fields.get(config.order_id_field)) if config.order_id_field else None
    if order_id is not None:

        def amount(field: str | None) -> str | None:
            if not field:
                return None
            value = fields.get(field)
            if isinstance(value, dict):
                value = value.get("value")
            return _amount_text(value, f"issue.fields.{field}")

        currency = _field_text(fields.get(config.currency_field)) if config.currency_field else None
        order = {
            "id": order_id,
            "currency": currency or config.default_currency,
            "total": amount(config.order_total_field),
            "shipping": amount(config.shipping_field),
        }
        payment = _field_text(fields.get(config.payment_reference_field)) if config.payment_reference_field else None
        if payment is not None:  # the order's Stripe payment (pi_… / ch_…): refunds go to it
            order["payment_reference"] = payment

    priority = fields.get("priority")
    labels = fields.get("labels")
    timestamp = payload.get("timestamp")
    if isinstance(timestamp, int) and not isinstance(timestamp, bool):
        try:
            occurred_at = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=timestamp)
        except OverflowError:
            raise PayloadError(
                f"timestamp {timestamp} is not a time in milliseconds since 1970 (years 1-9999)"
            ) from None
    else:
        occurred_at = received_at
    return _ticket(
        source="jira",
        event_id=f"jira:{key}",
        ticket_id=key,
        customer=_customer(customer_id, name, _scalar_text(reporter.get("emailAddress"))),
        order=order,
        subject=subject,
        description=_jira_description(fields.get("description")),
        severity=_severity(priority.get("name") if isinstance(priority, dict) else None, config.priority_map),
        occurred_at=occurred_at,
        url=f"{config.base_url}/browse/{key}" if config.base_url else None,
        project=_project_key(fields, key),
        tags=[str(label) for label in labels if isinstance(label, str)][:50] if isinstance(labels, list) else [],
    )


def _project_key(fields: dict[str, Any], key: str) -> str | None:
    """The Jira project key, for policy rules: `fields.project.key`, else the issue key's prefix."""
    project = fields.get("project")
    if isinstance(project, dict) and _scalar_text(project.get("key")):
        return _scalar_text(project.get("key"))
    return key.rsplit("-", 1)[0] if "-" in key else None


# --- ticket events on an open case ---------------------------------------------------------


def jira_activity(payload: dict[str, Any], config: JiraConfig) -> TicketActivity | OwnEvent | None:
    """`comment_created` (an agent's or the reporter's public comment) or `jira:issue_updated`
    with a status item in its changelog. None for anything else."""
    event = _scalar_text(payload.get("webhookEvent"))
    issue = payload.get("issue")
    if event not in ("comment_created", "jira:issue_updated") or not isinstance(issue, dict):
        return None
    key = _require(issue, "key", "issue.")
    fields = _dict(issue.get("fields"))
    if event == "jira:issue_updated":
        changelog = _dict(payload.get("changelog"))
        items = changelog.get("items")
        items = items if isinstance(items, list) else []
        status = next((i for i in items if isinstance(i, dict) and i.get("field") == "status"), None)
        if status is None:
            return None
        to = _require(status, "toString", "changelog.items[status].")
        change_id = _scalar_text(changelog.get("id")) or f"{to}:{payload.get('timestamp')}"
        return TicketActivity(
            source="jira", ticket_id=key, kind="status", status=to.lower(), event_id=f"jira:{key}:status:{change_id}"
        )
    comment = _dict(_object(payload, "comment", ""))
    body = _jira_description(comment.get("body"))
    author = _dict(comment.get("author"))
    account = _scalar_text(author.get("accountId"))
    if is_own_comment(body, account, config.api_account_id):
        return OwnEvent(reason="the engine's own comment")
    if "visibility" in comment or comment.get("jsdPublic") is False:
        return None  # restricted comments are internal notes
    reporter = _dict(fields.get("reporter"))
    by_customer = (account is not None and account == _scalar_text(reporter.get("accountId"))) or author.get(
        "accountType"
    ) == "customer"
    return TicketActivity(
        source="jira",
        ticket_id=key,
        event_id=f"jira:{key}:comment:{_require(comment, 'id', 'comment.')}",
        kind="customer_reply" if by_customer else "agent_reply",
        author=account,
        text=body,
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}

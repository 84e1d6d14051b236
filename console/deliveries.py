"""Where each message to the customer stands, from the timeline: a delivery runs beside the case (the
agent's step answers before it is done), and its outcome is recorded later as a `notified` or
`notification_failed` event whose data's `key` is the message's notification key
(`<workflow_id>:<seq>:<index>`, the `customer_messages` row's key)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from workflows.models import DomainEvent

State = Literal["pending", "sent", "failed", "not_sent"]

LABELS: dict[State, str] = {"pending": "sending…", "sent": "sent", "failed": "failed", "not_sent": "not sent"}

_CHANNELS = re.compile(r"\(([^()]*)\)\s*$")


@dataclass
class Delivery:
    state: State
    channels: list[str] = field(default_factory=list)
    """The channels it reached the customer on (email, zendesk, jira, webhook)."""
    reason: str | None = None
    """Why it failed or was not sent (the last channel's failure, or the skipped reasons)."""
    at: datetime | None = None
    """When the outcome was recorded (None: pending, or a message with no outcome recorded)."""

    @property
    def label(self) -> str:
        return LABELS[self.state]


def channels_of(reached: list[str]) -> list[str]:
    """`["customer (email, zendesk)"]` → `["email", "zendesk"]` (a label without channels: itself)."""
    out: list[str] = []
    for target in reached:
        found = _CHANNELS.search(target)
        out += [c.strip() for c in found.group(1).split(",")] if found else [target]
    return out


def delivery_of(message: dict[str, Any], events: list[DomainEvent]) -> Delivery:
    """The message's delivery as the timeline has it. No outcome recorded yet: pending when one will
    be (`tracked`), else sent (logged only, the webhook of old, or a row from before tracking)."""
    key = message.get("key")
    mine = [e for e in events if e.type in ("notified", "notification_failed") and e.data.get("key") == key]
    notified = next((e for e in reversed(mine) if e.type == "notified"), None)
    failures = [e for e in mine if e.type == "notification_failed"]
    failure = failures[-1].data.get("reason") if failures else None
    if notified is not None and notified.data.get("notified"):
        return Delivery("sent", channels_of(list(notified.data["notified"])), reason=failure, at=notified.at)
    if failures:
        channel = failures[-1].data.get("channel")
        return Delivery("failed", reason=f"{channel}: {failure}" if channel else failure, at=failures[-1].at)
    if notified is not None:
        skipped = notified.data.get("skipped") or []
        return Delivery("not_sent", reason="; ".join(skipped) or None, at=notified.at)
    return Delivery("pending" if message.get("tracked") else "sent")


def with_deliveries(messages: list[dict[str, Any]], events: list[DomainEvent]) -> list[dict[str, Any]]:
    return [{**m, "delivery": delivery_of(m, events)} for m in messages]

"""What makes a signed webhook the same delivery again: its replay key (starter/api/replays.py
keeps the keys seen). The event's own id when the body carries one — Zendesk's event envelope id
or a trigger body's `event_id`/`audit_id`, else the comment's id; Jira's changelog id, comment id
or the `X-Atlassian-Webhook-Identifier` delivery id — else the SHA-256 of the body together with
its timestamp (Zendesk's signed timestamp header, Jira's `timestamp` field). Pure."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from starter.intake.fields import _scalar_text
from starter.intake.signatures import JIRA_DELIVERY, ZENDESK_TIMESTAMP, _header

MAX_ID = 200


def _id(kind: str, value: Any) -> str | None:
    text = _scalar_text(value)
    if text is None:
        return None
    key = f"{kind}:{text}"
    return key if len(key) <= MAX_ID else f"{kind}-sha256:{hashlib.sha256(text.encode()).hexdigest()}"


def _digest(raw: bytes, timestamp: str | None) -> str:
    return "sha256:" + hashlib.sha256((timestamp or "").encode() + b"\n" + bytes(raw)).hexdigest()


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def zendesk_event_key(payload: Mapping[str, Any], headers: Mapping[str, str], raw: bytes) -> str:
    envelope = str(payload.get("type", "")).startswith("zen:event-type:")
    for field in ("id", "event_id", "audit_id") if envelope else ("event_id", "audit_id"):
        key = _id(field, payload.get(field))  # the envelope's event id; a trigger body's placeholders
        if key is not None:
            return key
    comment = _dict(payload.get("comment")) or _dict(_dict(payload.get("event")).get("comment"))
    return _id("comment", comment.get("id")) or _digest(raw, _header(headers, ZENDESK_TIMESTAMP))


def jira_event_key(payload: Mapping[str, Any], headers: Mapping[str, str], raw: bytes) -> str:
    event = _scalar_text(payload.get("webhookEvent")) or "event"
    changelog = _id("changelog", _dict(payload.get("changelog")).get("id"))
    if changelog is not None:
        return changelog
    comment = _id(f"{event}:comment", _dict(payload.get("comment")).get("id"))
    if comment is not None:
        return comment
    delivery = _id("delivery", _header(headers, JIRA_DELIVERY))
    if delivery is not None:
        return delivery
    stamp = payload.get("timestamp")
    return _digest(raw, f"{event}@{stamp}" if stamp is not None else event)

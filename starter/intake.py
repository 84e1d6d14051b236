"""Webhook intake: verify Zendesk and Jira webhooks and map them to the generic `TicketEvent`.

Pure and framework-free: the HTTP layer hands over the raw request bytes, the headers and the
clock, and gets back a `TicketEvent` (or None for events that open no case), a `SignatureError`
(answer 401) or a `PayloadError` (answer 422). Signatures are always checked on the raw bytes,
never on re-serialised JSON, with `hmac.compare_digest`.

Configuration is an ops-owned TOML file, at `load_intake_config(path)` or `$RECOVERY_INTAKE`;
without one no webhook source is configured::

    max_body_bytes = 262144

    [zendesk]
    secrets = ["current-signing-secret"]     # two during rotation: ["new", "old"]
    tolerance_seconds = 300
    order_field = "360001"                   # custom field id holding the order id (event envelope)
    default_currency = "USD"
    base_url = "https://example.zendesk.com"
    # priority_map = { urgent = "critical", high = "high", normal = "normal", low = "low" }

    [jira]
    secrets = ["jira-webhook-secret"]
    customer_id_field = "customfield_10050"  # else the reporter's accountId, as jira-<accountId>
    customer_name_field = "customfield_10051"  # else the reporter's displayName
    order_id_field = "customfield_10060"
    order_total_field = "customfield_10061"
    shipping_field = "customfield_10062"
    currency_field = "customfield_10063"
    base_url = "https://example.atlassian.net"

A `priority_map` replaces the default map as a whole; lookups ignore case; an unknown or empty
priority maps to no severity, so the policy's default applies.

Zendesk, shape (a): a trigger or automation webhook (request format JSON, method POST). Use this
body, replacing the `ticket_field_…` ids with your custom field ids (drop `order` if you have no
order field; an empty order id means "no order"; `currency` may be omitted for the default)::

    {"ticket_id": "{{ticket.id}}", "subject": "{{ticket.title}}", "description": "{{ticket.description}}",
     "priority": "{{ticket.priority}}", "url": "{{ticket.link}}", "updated_at": "{{ticket.updated_at_with_timestamp}}",
     "requester": {"id": "{{ticket.requester.id}}", "name": "{{ticket.requester.name}}", "email": "{{ticket.requester.email}}"},
     "order": {"id": "{{ticket.ticket_field_ORDER_FIELD_ID}}", "total": "{{ticket.ticket_field_TOTAL_FIELD_ID}}",
               "shipping": "{{ticket.ticket_field_SHIPPING_FIELD_ID}}", "currency": "USD"}}

The event id is the body's optional `event_id`, else `zendesk:ticket:<ticket_id>`: one Zendesk
ticket is one contact, so redeliveries and later triggers on the same ticket change nothing. The
customer id is `zd-user-<requester id>` in both shapes. `updated_at` is used when it parses as an
ISO 8601 time with a zone, else the time the request was received.

Zendesk, shape (b): an event-subscribed webhook (`{"type": "zen:event-type:…", "detail": {…}}`).
Only `zen:event-type:ticket.created` maps to a ticket event; other types return None. The
envelope carries no requester name or amounts: the customer is `Zendesk user <requester_id>`, the
order (from the custom field `order_field`) has the default currency and no amounts.

Jira: `jira:issue_created` and `jira:issue_updated` map to a ticket event with event id
`jira:<issue key>` (one issue is one contact); other events return None. Descriptions in Atlassian
Document Format become their text nodes joined by spaces. Jira number fields are converted through
their decimal text (`88` → "88", `7455.0` → "7455.0", never via binary floating point arithmetic).

Long subjects, descriptions and names are clipped to the ticket schema's limits (with "…") rather
than refused, so one verbose ticket never blocks its own intake.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from workflows.converter import describe_validation_error
from workflows.models import TicketEvent
from workflows.money import Currency
from workflows.policy import Severity, parse_toml_config, read_config_file

__all__ = [
    "IntakeConfig",
    "IntakeConfigError",
    "JiraConfig",
    "PayloadError",
    "SignatureError",
    "ZendeskConfig",
    "jira_ticket",
    "load_intake_config",
    "parse_intake_config",
    "sign_jira",
    "sign_zendesk",
    "verify_jira",
    "verify_zendesk",
    "zendesk_ticket",
]

ZENDESK_SIGNATURE = "X-Zendesk-Webhook-Signature"
ZENDESK_TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"
JIRA_SIGNATURE = "X-Hub-Signature"
JIRA_DELIVERY = "X-Atlassian-Webhook-Identifier"

ZENDESK_EVENT_PREFIX = "zen:event-type:"
ZENDESK_TICKET_CREATED = "zen:event-type:ticket.created"
JIRA_TICKET_EVENTS = frozenset({"jira:issue_created", "jira:issue_updated"})


# --- configuration -------------------------------------------------------------------------


class IntakeConfigError(ValueError):
    """An intake file that cannot be used; one line per problem, naming the file, the key and why."""


class SignatureError(Exception):
    """A webhook whose signature does not verify; the message is a short reason (answer 401)."""


class PayloadError(ValueError):
    """A verified webhook body that cannot be mapped to a ticket event; the message names the field."""


def _text_id(value: Any) -> Any:
    """TOML users write custom field ids as numbers as often as strings: accept both."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _base_url(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"base_url {value!r} must start with https:// (e.g. https://example.zendesk.com)")
    return value


Secret = Annotated[str, Field(min_length=1)]
Secrets = Annotated[list[Secret], Field(min_length=1, max_length=2)]
FieldId = Annotated[str, BeforeValidator(_text_id), Field(min_length=1)]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("base_url", check_fields=False)
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _base_url(value)


class ZendeskConfig(_Config):
    secrets: Secrets
    """One signing secret, or two while rotating (both verify)."""
    tolerance_seconds: int = Field(300, gt=0)
    priority_map: dict[str, Severity] = {
        "urgent": Severity.CRITICAL, "high": Severity.HIGH, "normal": Severity.NORMAL, "low": Severity.LOW,
    }
    order_field: FieldId | None = None
    """Custom field id holding the order id, for the event-subscribed envelope shape."""
    default_currency: Currency = "USD"
    base_url: str | None = None
    """e.g. https://example.zendesk.com, for ticket links."""


class JiraConfig(_Config):
    secrets: Secrets
    customer_id_field: FieldId | None = None
    """e.g. customfield_10050; falls back to the reporter's accountId."""
    customer_name_field: FieldId | None = None
    """Falls back to the reporter's displayName."""
    order_id_field: FieldId | None = None
    order_total_field: FieldId | None = None
    shipping_field: FieldId | None = None
    currency_field: FieldId | None = None
    default_currency: Currency = "USD"
    priority_map: dict[str, Severity] = {
        "Highest": Severity.CRITICAL, "High": Severity.HIGH, "Medium": Severity.NORMAL,
        "Low": Severity.LOW, "Lowest": Severity.LOW,
    }
    base_url: str | None = None
    """e.g. https://example.atlassian.net, for links /browse/KEY."""


class IntakeConfig(_Config):
    max_body_bytes: int = Field(262144, gt=0)
    zendesk: ZendeskConfig | None = None
    jira: JiraConfig | None = None


def parse_intake_config(text: str, source: str = "intake config") -> IntakeConfig:
    return parse_toml_config(text, source, IntakeConfig, IntakeConfigError)


def load_intake_config(path: str | os.PathLike[str] | None = None) -> IntakeConfig:
    """The intake config at `path`, else at $RECOVERY_INTAKE, else none (no webhook sources)."""
    path = path or os.environ.get("RECOVERY_INTAKE")
    if not path:
        return IntakeConfig()
    return parse_intake_config(read_config_file(path, "intake config", IntakeConfigError), str(Path(path)))


# --- signatures ----------------------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _hmac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def sign_zendesk(secret: str, timestamp: str, raw: bytes) -> str:
    """base64(HMAC-SHA256(secret, timestamp + body)), the `X-Zendesk-Webhook-Signature` value."""
    return base64.b64encode(_hmac(secret, timestamp.encode() + bytes(raw))).decode()


def sign_jira(secret: str, raw: bytes) -> str:
    """`sha256=<hex HMAC-SHA256(secret, body)>`, the `X-Hub-Signature` value."""
    return "sha256=" + _hmac(secret, bytes(raw)).hex()


def _matches_any(given: bytes, expected: list[bytes]) -> bool:
    # Compare against every secret (no early exit), each in constant time.
    results = [hmac.compare_digest(given, candidate) for candidate in expected]
    return any(results)


def verify_zendesk(headers: Mapping[str, str], raw: bytes, config: ZendeskConfig, now: datetime) -> None:
    """Raise SignatureError unless the body carries a valid, fresh signature by one of the secrets."""
    signature = _header(headers, ZENDESK_SIGNATURE)
    if not signature:
        raise SignatureError(f"missing {ZENDESK_SIGNATURE} header")
    timestamp = _header(headers, ZENDESK_TIMESTAMP)
    if not timestamp:
        raise SignatureError(f"missing {ZENDESK_TIMESTAMP} header")
    try:
        sent_at = datetime.fromisoformat(timestamp.strip())
    except ValueError:
        raise SignatureError(f"{ZENDESK_TIMESTAMP} is not an ISO 8601 time") from None
    if sent_at.tzinfo is None:  # Zendesk sends UTC with a Z; a zoneless time is read as UTC
        sent_at = sent_at.replace(tzinfo=timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    if abs(now - sent_at) > timedelta(seconds=config.tolerance_seconds):
        raise SignatureError(f"timestamp outside the ±{config.tolerance_seconds} s window")
    expected = [sign_zendesk(secret, timestamp, raw).encode() for secret in config.secrets]
    if not _matches_any(signature.strip().encode(), expected):
        raise SignatureError("signature does not match")


_HEX_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def verify_jira(headers: Mapping[str, str], raw: bytes, config: JiraConfig) -> None:
    """Raise SignatureError unless `X-Hub-Signature: sha256=<hex>` verifies with one of the secrets."""
    signature = _header(headers, JIRA_SIGNATURE)
    if not signature:
        raise SignatureError(f"missing {JIRA_SIGNATURE} header")
    algorithm, sep, digest = signature.strip().partition("=")
    if not sep:
        raise SignatureError(f"malformed {JIRA_SIGNATURE} header (expected sha256=<hex>)")
    if algorithm.strip().lower() != "sha256":
        raise SignatureError(f"unsupported signature algorithm {algorithm.strip()!r} (expected sha256)")
    if not _HEX_SHA256.match(digest):
        raise SignatureError(f"malformed {JIRA_SIGNATURE} header (expected 64 hex digits after sha256=)")
    expected = [sign_jira(secret, raw).encode() for secret in config.secrets]
    if not _matches_any(("sha256=" + digest.lower()).encode(), expected):
        raise SignatureError("signature does not match")


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _scalar_text(value: Any) -> str | None:
    """A string or integer as stripped text; None for null, empty and anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    return None


def _require(container: Mapping[str, Any], key: str, where: str) -> str:
    value = _scalar_text(container.get(key))
    if value is None:
        raise PayloadError(f"{where}{key}: required field is missing or empty")
    return value


def _object(container: Mapping[str, Any], key: str, where: str, required: bool = True) -> dict[str, Any] | None:
    value = container.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, dict):
        raise PayloadError(f"{where}{key}: required object is missing" if value is None
                           else f"{where}{key}: must be an object")
    return value


def _amount_text(value: Any, where: str) -> str | None:
    """Amount text for `Order`: strings as given, integers via str(), floats via their decimal text."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise PayloadError(f"{where}: must be an amount, not a boolean")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        try:
            return format(Decimal(str(value)), "f")
        except InvalidOperation:
            raise PayloadError(f"{where}: {value!r} is not an amount") from None
    if isinstance(value, str):
        return value.strip()
    raise PayloadError(f"{where}: must be an amount such as \"12.50\"")


def _severity(priority: Any, priority_map: Mapping[str, Severity]) -> Severity | None:
    if not isinstance(priority, str) or not priority.strip():
        return None
    lowered = {key.lower(): severity for key, severity in priority_map.items()}
    return lowered.get(priority.strip().lower())


def _aware_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _link(url: Any) -> str | None:
    text = _scalar_text(url)
    if text is None:
        return None
    return text if re.match(r"^https?://", text) else f"https://{text}"


def _ticket(**fields: Any) -> TicketEvent:
    fields["subject"] = _clip(fields["subject"], 300)
    fields["description"] = _clip(fields.get("description") or "", 20000)
    try:
        return TicketEvent.model_validate(fields)
    except ValidationError as exc:
        raise PayloadError(f"invalid ticket: {describe_validation_error(exc)}") from None


def _customer(customer_id: str, name: str | None, email: str | None) -> dict[str, Any]:
    return {"id": customer_id, "name": _clip(name or "", 200) or customer_id, "email": email or None}


# --- Zendesk -------------------------------------------------------------------------------


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
    )


# --- Jira ----------------------------------------------------------------------------------


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
    reporter = fields.get("reporter") if isinstance(fields.get("reporter"), dict) else {}

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

    priority = fields.get("priority")
    timestamp = payload.get("timestamp")
    if isinstance(timestamp, int) and not isinstance(timestamp, bool):
        occurred_at = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=timestamp)
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
    )

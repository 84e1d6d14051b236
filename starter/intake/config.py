"""The intake config: an ops-owned TOML file naming the webhook sources, their secrets and field
mappings (documented in docs/ops.md, "Webhook intake")."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PositiveInt, field_validator

from recovery.config import parse_toml_config, read_config_file
from starter.intake.events import JiraRules, ZendeskRules
from starter.intake.orders import OrdersConfig
from starter.intake.proactive import ProactiveRules
from starter.intake.stripe_events import StripeConfig
from workflows.money import Currency
from workflows.policy import Severity


class IntakeConfigError(ValueError):
    """An intake file that cannot be used; one line per problem, naming the file, the key and why."""


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
        "urgent": Severity.CRITICAL,
        "high": Severity.HIGH,
        "normal": Severity.NORMAL,
        "low": Severity.LOW,
    }
    order_field: FieldId | None = None
    """Custom field id holding the order id, for the event-subscribed envelope shape."""
    default_currency: Currency = "USD"
    base_url: str | None = None
    """e.g. https://example.zendesk.com, for ticket links."""
    events: ZendeskRules = ZendeskRules()
    """Comments and status changes → steps (starter/intake/events.py has the defaults)."""
    api_user_id: FieldId | None = None
    """The Zendesk user the engine posts as: its comments never count as an agent's reply."""


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
    payment_reference_field: FieldId | None = None
    """The order's payment at Stripe (`pi_…` / `ch_…`), where refunds go."""
    default_currency: Currency = "USD"
    priority_map: dict[str, Severity] = {
        "Highest": Severity.CRITICAL,
        "High": Severity.HIGH,
        "Medium": Severity.NORMAL,
        "Low": Severity.LOW,
        "Lowest": Severity.LOW,
    }
    base_url: str | None = None
    """e.g. https://example.atlassian.net, for links /browse/KEY."""
    events: JiraRules = JiraRules()
    api_account_id: str | None = None
    """The Atlassian account the engine posts as: its comments never count as an agent's reply."""


class RateLimits(_Config):
    """Requests allowed per `window_seconds`, counted in this process (starter/api/ratelimit.py)."""

    window_seconds: int = Field(60, gt=0, le=3600)
    api_per_token: PositiveInt = 6000
    """Requests with one bearer token (every route)."""
    webhooks_per_source: PositiveInt = 6000
    """Deliveries from each source: `tickets` (POST /v1/tickets), `zendesk`, `jira`."""
    sources: dict[Literal["tickets", "zendesk", "jira"], PositiveInt] = {}
    """One source's own limit instead of `webhooks_per_source`."""
    sign_in_failures_per_address: PositiveInt = 10
    """Refused console sign-ins from one client address; past them every sign-in gets 429."""
    logout_token_failures_per_address: PositiveInt = 10
    """Refused OIDC back-channel logout tokens (400) from one client address; past them, 429."""


class IntakeConfig(_Config):
    max_body_bytes: int = Field(262144, gt=0)
    max_body_depth: int = Field(64, gt=0, le=1000)
    """Nesting of JSON arrays/objects a body may have (checked before parsing, on every route)."""
    seen_retention_hours: int = Field(168, gt=0)
    """How long a signed webhook's replay key is remembered (answered `duplicate` when seen again)."""
    rate_limits: RateLimits = RateLimits()
    zendesk: ZendeskConfig | None = None
    jira: JiraConfig | None = None
    stripe: StripeConfig | None = None
    """Stripe's events (`POST /v1/webhooks/stripe`); also on with $RECOVERY_STRIPE_WEBHOOK_SECRET alone."""
    orders: OrdersConfig | None = None
    """The generic order and shipment feed (`POST /v1/webhooks/orders`)."""
    proactive: ProactiveRules = ProactiveRules()
    """The rules that open cases from payment and order events (starter/intake/proactive.py)."""


def parse_intake_config(text: str, source: str = "intake config") -> IntakeConfig:
    return parse_toml_config(text, source, IntakeConfig, IntakeConfigError)


def load_intake_config(path: str | os.PathLike[str] | None = None) -> IntakeConfig:
    """The intake config at `path`, else at $RECOVERY_INTAKE, else none (no webhook sources)."""
    path = path or os.environ.get("RECOVERY_INTAKE")
    if not path:
        return IntakeConfig()
    return parse_intake_config(read_config_file(path, "intake config", IntakeConfigError), str(Path(path)))

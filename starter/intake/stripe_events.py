"""Stripe webhooks (`POST /v1/webhooks/stripe`): the `Stripe-Signature` verified by Stripe's own
library, the event read into strict models, and a charge's customer and order taken from its
`metadata` (keys configurable in `[stripe.metadata]`; `shipping` is in minor units, as Stripe's
amounts are). The events: `charge.succeeded`, `charge.refunded`, `charge.dispute.created`,
`invoice.payment_failed`; any other type is answered and ignored."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import Decimal
from typing import Annotated, Any, Literal

import stripe
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from recovery.validation import describe_validation_error
from starter.intake.fields import PayloadError
from starter.intake.proactive import Party, from_minor
from starter.intake.signatures import SignatureError, _header

SECRET_ENV = "RECOVERY_STRIPE_WEBHOOK_SECRET"
STRIPE_SIGNATURE = "Stripe-Signature"
EVENTS = ("charge.succeeded", "charge.refunded", "charge.dispute.created", "invoice.payment_failed")
MAX_MINOR = 10**12
"""No charge is this large (10 billion dollars): anything above is refused as malformed."""

Epoch = Annotated[StrictInt, Field(ge=0, le=253402300799)]
"""Unix seconds up to 9999-12-31."""
Minor = Annotated[StrictInt, Field(ge=0, le=MAX_MINOR)]
Key = Annotated[str, Field(min_length=1, max_length=40)]
StripeId = Annotated[StrictStr, Field(min_length=3, max_length=255, pattern=r"^[A-Za-z0-9_]+$")]


class MetadataKeys(BaseModel):
    """Which charge `metadata` keys hold the order and the customer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_id: Key = "order_id"
    customer_id: Key = "customer_id"
    """Falls back to the charge's Stripe customer (`cus_…`)."""
    customer_email: Key = "customer_email"
    """Falls back to the charge's billing email or receipt email."""
    customer_name: Key = "customer_name"
    shipping: Key = "shipping"
    """Shipping in minor units (cents): goods = amount - shipping."""


class StripeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    secrets: Annotated[list[Annotated[str, Field(min_length=1)]], Field(max_length=2)] = []
    """The endpoint's signing secret(s) (`whsec_…`), two while rotating; $RECOVERY_STRIPE_WEBHOOK_SECRET
    (comma-separated for two) comes first."""
    tolerance_seconds: int = Field(300, gt=0)
    metadata: MetadataKeys = MetadataKeys()
    charge_retention_days: int = Field(120, gt=0)
    """How long a charge's ids are kept for dispute lookups and duplicate detection."""

    def signing_secrets(self, environ: Mapping[str, str] | None = None) -> list[str]:
        env = (environ if environ is not None else os.environ).get(SECRET_ENV, "")
        given = [s.strip() for s in env.split(",") if s.strip()]
        return [*given, *(s for s in self.secrets if s not in given)]


def verify_stripe(headers: Mapping[str, str], raw: bytes, config: StripeConfig, secrets: list[str]) -> int:
    """Raise SignatureError unless Stripe's library verifies the body with one of `secrets` (and the
    signature is no older than the tolerance); return which one. A body that is not UTF-8 JSON
    raises PayloadError (answer 400)."""
    signature = _header(headers, STRIPE_SIGNATURE)
    if not signature:
        raise SignatureError(f"missing {STRIPE_SIGNATURE} header")
    reason = "signature does not match"
    for index, secret in enumerate(secrets):
        try:
            stripe.Webhook.construct_event(raw, signature, secret, tolerance=config.tolerance_seconds)
        except stripe.SignatureVerificationError as err:
            reason = str(err.user_message or err)
            if "tolerance" in reason:
                raise SignatureError("timestamp outside the tolerance window") from None
            continue
        except (ValueError, UnicodeDecodeError):  # verified, but no JSON object (or a v2 thin event)
            raise PayloadError("body is not a Stripe event (a JSON object)") from None
        return index
    raise SignatureError(reason)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)  # Stripe adds fields in every API version


class Refund(_Model):
    id: StripeId
    amount: Minor = 0
    created: Epoch = 0


class Refunds(_Model):
    data: Annotated[list[Refund], Field(max_length=100)] = []


class BillingDetails(_Model):
    email: StrictStr | None = None
    name: StrictStr | None = None


class Charge(_Model):
    id: StripeId
    object: Literal["charge"]
    amount: Minor
    amount_refunded: Minor = 0
    currency: Annotated[StrictStr, Field(pattern=r"^[A-Za-z]{3}$")]
    created: Epoch
    customer: StripeId | None = None
    payment_intent: StripeId | None = None
    metadata: dict[str, Annotated[StrictStr, Field(max_length=500)]] = {}
    billing_details: BillingDetails | None = None
    receipt_email: StrictStr | None = None
    refunds: Refunds | None = None


class Dispute(_Model):
    id: StripeId
    object: Literal["dispute"]
    amount: Minor
    currency: Annotated[StrictStr, Field(pattern=r"^[A-Za-z]{3}$")]
    charge: StripeId | Charge
    reason: StrictStr = ""
    created: Epoch
    metadata: dict[str, Annotated[StrictStr, Field(max_length=500)]] = {}


class Invoice(_Model):
    id: StripeId
    object: Literal["invoice"]
    customer: StripeId | None = None
    amount_due: Minor = 0
    currency: Annotated[StrictStr, Field(pattern=r"^[A-Za-z]{3}$")]


class EventData(_Model):
    object: dict[str, Any]


class StripeEvent(_Model):
    id: StripeId
    object: Literal["event"]
    type: Annotated[StrictStr, Field(min_length=1, max_length=100)]
    created: Epoch
    data: EventData


def stripe_event(payload: dict[str, Any]) -> tuple[StripeEvent, Charge | Dispute | Invoice | None]:
    """The event and its object (None for a type the engine does not act on); PayloadError naming the field."""
    try:
        event = StripeEvent.model_validate(payload)
    except ValidationError as err:
        raise PayloadError(describe_validation_error(err)) from None
    model: type[Any] | None = {
        "charge.succeeded": Charge,
        "charge.refunded": Charge,
        "charge.dispute.created": Dispute,
        "invoice.payment_failed": Invoice,
    }.get(event.type)
    if model is None:
        return event, None
    try:
        return event, model.model_validate(event.data.object)
    except ValidationError as err:
        problems = describe_validation_error(err).split("; ")
        raise PayloadError("; ".join(f"data.object.{p}" for p in problems)) from None


_ID_TEXT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,79}$")


def _meta(charge: Charge | Dispute, key: str) -> str | None:
    value = charge.metadata.get(key)
    return value.strip() or None if value is not None else None


def charge_party(charge: Charge, keys: MetadataKeys) -> Party | None:
    """The customer and order of a charge; None when it names no customer at all. PayloadError
    naming the metadata key when a value cannot be used."""
    customer_id = _meta(charge, keys.customer_id) or charge.customer
    if customer_id is None:
        return None
    where = "data.object.metadata."
    order_id = _meta(charge, keys.order_id)
    for key, value in ((keys.customer_id, customer_id), (keys.order_id, order_id)):
        if value is not None and not _ID_TEXT.match(value):
            raise PayloadError(f"{where}{key}: use 1-80 letters, digits, '.', '_', '@' or '-'")
    currency = charge.currency.upper()
    shipping_text = _meta(charge, keys.shipping)
    shipping: Decimal | None = None
    if shipping_text is not None:
        if not shipping_text.isdigit() or int(shipping_text) > charge.amount:
            raise PayloadError(f"{where}{keys.shipping}: minor units (e.g. 1500 for 15.00), at most the amount")
        shipping = from_minor(int(shipping_text), currency)
    billing = charge.billing_details
    email = _meta(charge, keys.customer_email) or (billing.email if billing else None) or charge.receipt_email
    name = _meta(charge, keys.customer_name) or (billing.name if billing else None)
    reference = charge.payment_intent if (charge.payment_intent or "").startswith("pi_") else None
    if reference is None and charge.id.startswith("ch_"):
        reference = charge.id
    return Party(
        customer_id=customer_id,
        customer_name=name,
        customer_email=email,
        order_id=order_id,
        currency=currency,
        total=from_minor(charge.amount, currency),
        shipping=shipping,
        payment_reference=reference,
    )


def latest_refund(charge: Charge) -> Refund | None:
    refunds = charge.refunds.data if charge.refunds is not None else []
    return max(refunds, key=lambda r: r.created) if refunds else None


def at(epoch: int) -> datetime:
    try:
        return datetime.fromtimestamp(epoch, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise PayloadError(f"created: {epoch} is not a time") from None

"""The generic order and shipment feed (`POST /v1/webhooks/orders`), for a shop or a carrier
integration: signed as Zendesk signs (`X-Recovery-Signature` = base64(HMAC-SHA256(secret,
timestamp + body)), `X-Recovery-Signature-Timestamp` = the ISO 8601 time it was sent), one event a
request. Events: `order.placed` and `order.charged` (line items, shipping, total), `shipment.delayed`
(the promised and the new date) and `shipment.exception`. Amounts are decimal strings, as everywhere
in the API. The models are strict: a malformed body is answered 422 naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    model_validator,
)

from recovery.validation import problems
from starter.intake.fields import PayloadError
from starter.intake.proactive import Party
from starter.intake.signatures import sign_zendesk, verify_timestamped
from workflows.contact import EmailAddress, HeaderText
from workflows.models import Identifier
from workflows.money import Amount, Currency, check_places

ORDERS_SIGNATURE = "X-Recovery-Signature"
ORDERS_TIMESTAMP = "X-Recovery-Signature-Timestamp"
EVENTS = ("order.placed", "order.charged", "shipment.delayed", "shipment.exception")


class OrdersConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    secrets: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1, max_length=2)]
    """One signing secret, or two while rotating (both verify)."""
    tolerance_seconds: int = Field(300, gt=0)


def sign_orders(secret: str, timestamp: str, raw: bytes) -> str:
    """The `X-Recovery-Signature` value of a body sent at `timestamp`."""
    return sign_zendesk(secret, timestamp, raw)


def verify_orders(headers: Mapping[str, str], raw: bytes, config: OrdersConfig, now: datetime) -> int:
    return verify_timestamped(
        headers, raw, config.secrets, config.tolerance_seconds, now, ORDERS_SIGNATURE, ORDERS_TIMESTAMP
    )


def _in_utc_range(value: datetime) -> datetime:
    try:
        value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is outside the range of UTC times (years 1-9999)") from None
    return value


Time = Annotated[AwareDatetime, AfterValidator(_in_utc_range)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


Name = Annotated[HeaderText, Field(min_length=1, max_length=200)]


class OrderCustomer(_Model):
    id: Identifier
    name: Name | None = None
    email: EmailAddress | None = None


class LineItem(_Model):
    sku: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    name: Name
    quantity: Annotated[StrictInt, Field(ge=1, le=100000)] = 1
    unit_price: Amount


class OrderInfo(_Model):
    id: Identifier
    currency: Currency
    customer: OrderCustomer
    line_items: Annotated[list[LineItem], Field(max_length=500)] = []
    shipping: Amount | None = None
    total: Amount | None = None
    payment_reference: Annotated[str, Field(pattern=r"^(pi|ch)_[A-Za-z0-9]{1,100}$")] | None = None

    @model_validator(mode="after")
    def _fits_currency(self) -> OrderInfo:
        for name, amount in (("shipping", self.shipping), ("total", self.total)):
            if amount is not None:
                try:
                    check_places(amount, self.currency)
                except ValueError as err:
                    raise ValueError(f"{name}: {err}") from None
        return self

    def goods(self) -> Decimal | None:
        """The line items' sum, else total - shipping; None when neither is known."""
        if self.line_items:
            return sum((item.unit_price * item.quantity for item in self.line_items), Decimal(0))
        if self.total is not None:
            return self.total - (self.shipping or Decimal(0))
        return None


class Shipment(_Model):
    id: Identifier
    carrier: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    promised_at: Time
    """The delivery date promised to the customer."""
    expected_at: Time | None = None
    """The new expected delivery date (required for `shipment.delayed`)."""
    reason: Annotated[str, Field(max_length=500)] = ""


class OrderEvent(_Model):
    id: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$")]
    """The event's own id: a redelivery with an id seen before is a duplicate (answered 200)."""
    type: Literal["order.placed", "order.charged", "shipment.delayed", "shipment.exception"]
    occurred_at: Time
    order: OrderInfo
    shipment: Shipment | None = None

    @model_validator(mode="after")
    def _complete(self) -> OrderEvent:
        if self.type.startswith("shipment.") and self.shipment is None:
            raise ValueError(f"shipment: required for {self.type}")
        if self.type == "shipment.delayed" and self.shipment is not None and self.shipment.expected_at is None:
            raise ValueError("shipment.expected_at: required for shipment.delayed")
        if self.type == "order.charged" and self.order.shipping is None:
            raise ValueError("order.shipping: required for order.charged")
        if self.type == "order.charged" and not self.order.line_items and self.order.total is None:
            raise ValueError("order.line_items: order.charged needs the line items or the total")
        return self


def order_event(payload: object) -> OrderEvent:
    try:
        return OrderEvent.model_validate(payload)
    except ValidationError as err:  # a whole-body check names its field in the message
        found = problems(err.errors(), top="")
        raise PayloadError("; ".join(f"{where}: {why}" if where else why for where, why, _ in found)) from None


def order_party(order: OrderInfo) -> Party:
    customer = order.customer
    return Party(
        customer_id=customer.id,
        customer_name=customer.name,
        customer_email=customer.email,
        order_id=order.id,
        currency=order.currency,
        total=order.total,
        shipping=order.shipping,
        payment_reference=order.payment_reference,
    )

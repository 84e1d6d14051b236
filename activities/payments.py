"""Refunds and customer credits through Stripe, with the official `stripe` library (API v1).

Why the library: its request signing, form encoding, retries (`max_network_retries`, honouring
`Stripe-Should-Retry`) and error classes are Stripe's own; hand-written calls drifted from what
Stripe accepts. Every call carries `idempotency_key=<instruction key>` (workflow id + proposal
sequence: the same on every attempt, so Stripe replays its first answer instead of paying twice).

* refund: `POST /v1/refunds` with `payment_intent` (`pi_…`) or `charge` (`ch_…`) from the ticket's
  `order.payment_reference`, `amount` (integer minor units), `reason=requested_by_customer` and
  `metadata[case_id|workflow_id|customer_id|idempotency_key|...]`. A refund without a payment
  reference is declined here (there is nothing to refund against).
* credit: `POST /v1/customers/{stripe customer}/balance_transactions` on the ticket's
  `customer.payment_customer_id` (`cus_…`), `amount` = negative minor units (a credit), `currency`,
  `description`, `metadata[...]`. Without a Stripe customer id it is declined.
* lookup (`find`, before re-asking for a payment whose outcome is unknown — Stripe keeps idempotency
  keys for a day only): `GET /v1/refunds?payment_intent=…` (or `charge=…`) or
  `GET /v1/customers/{id}/balance_transactions`, paged (`limit=100`, `starting_after`), matched on
  `metadata[idempotency_key]`.

Errors: 402 `card_error`, 400/404 `invalid_request_error` (e.g. `amount_too_large`) and 409
`idempotency_error` (the key reused with other parameters) raise `PaymentDeclined` (final). 401/403
(bad key: fix the config), 429 `rate_limit`, 5xx, a 409 Stripe marks retryable (the same key still in
flight) and network errors raise `PaymentUnavailable` (retry with the same key).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import stripe

from workflows.effects import IssueInstruction
from workflows.models import CompensationKind
from workflows.money import Money, minor_units

PROVIDER_KINDS = frozenset({CompensationKind.REFUND, CompensationKind.CREDIT})
"""The compensation kinds a payment provider issues; the others are recorded only."""


class PaymentDeclined(Exception):
    """The provider refused the payment for good: retrying with the same key changes nothing."""

    def __init__(self, status: int, error_type: str, code: str | None, message: str):
        self.status, self.error_type, self.code, self.message = status, error_type, code, message
        super().__init__(f"payment provider declined ({status} {error_type}{'/' + code if code else ''}): {message}")


class PaymentUnavailable(Exception):
    """The outcome is unknown or the provider is unavailable: retry with the same idempotency key."""


@dataclass(frozen=True)
class PaymentResult:
    id: str
    replayed: bool
    """True when the provider replayed a stored answer for this idempotency key."""


def to_minor(money: Money) -> int:
    """`12.50 USD` → 1250; `500 JPY` → 500; exact, never rounded."""
    scaled = money.amount.scaleb(minor_units(money.currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{money} has more decimal places than {money.currency} allows")
    return int(scaled)


def metadata_of(instruction: IssueInstruction) -> dict[str, str]:
    meta = {
        "case_id": instruction.case_id,
        "workflow_id": instruction.workflow_id,
        "customer_id": instruction.customer_id,
        "idempotency_key": instruction.key,
        "kind": instruction.kind.value,
        "issued_by": instruction.issued_by.id,
    }
    if instruction.approved_by is not None:
        meta["approved_by"] = instruction.approved_by.id
    if instruction.reason:
        meta["reason"] = instruction.reason[:500]  # Stripe's limit per metadata value
    return meta


class StripePayments:
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 20.0, max_network_retries: int = 2):
        if not base_url:
            raise ValueError("the payment provider needs a base URL")
        if not api_key:
            raise ValueError("the payment provider needs an API key")
        self.base_url = base_url.rstrip("/")
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": self.base_url},
            max_network_retries=max_network_retries,
            http_client=stripe.HTTPXClient(timeout=timeout),
        )

    async def issue(self, instruction: IssueInstruction) -> PaymentResult:
        """Refund or credit `instruction.amount`, keyed by `instruction.key`."""
        if instruction.amount is None:
            raise ValueError(f"a {instruction.kind.value} through the provider needs an amount")
        meta = metadata_of(instruction)
        if instruction.kind is CompensationKind.REFUND:
            return await self.refund(instruction.key, instruction.payment_reference, instruction.amount, meta)
        if instruction.kind is CompensationKind.CREDIT:
            return await self.credit(
                instruction.key,
                instruction.payment_customer_id,
                instruction.amount,
                meta,
                description=instruction.reason,
            )
        raise ValueError(f"the payment provider does not issue {instruction.kind.value!r}")

    async def refund(self, key: str, payment: str | None, money: Money, metadata: Mapping[str, str]) -> PaymentResult:
        """Refund `money` of the payment `payment` (`pi_…` PaymentIntent or `ch_…` Charge)."""
        target = _payment_param(payment)
        params: dict[str, Any] = {
            **target,
            "amount": to_minor(money),
            "reason": "requested_by_customer",
            "metadata": dict(metadata),
        }
        return await self._call(lambda: self._client.v1.refunds.create_async(params, {"idempotency_key": key}))  # type: ignore[arg-type]

    async def credit(
        self, key: str, customer: str | None, money: Money, metadata: Mapping[str, str], description: str = ""
    ) -> PaymentResult:
        """Credit `money` to the Stripe customer `customer`'s balance (`cus_…`)."""
        if not customer:
            raise PaymentDeclined(
                400,
                "invalid_request_error",
                "parameter_missing",
                "the ticket names no Stripe customer to credit (customer.payment_customer_id)",
            )
        params: dict[str, Any] = {
            "amount": -to_minor(money),
            "currency": money.currency.lower(),
            "metadata": dict(metadata),
        }
        if description:
            params["description"] = description[:350]
        return await self._call(
            lambda: self._client.v1.customers.balance_transactions.create_async(
                customer,
                params,  # type: ignore[arg-type]
                {"idempotency_key": key},
            )
        )

    async def promotion_code(self, instruction: IssueInstruction, code: str) -> PaymentResult:
        """A one-off coupon worth `instruction.amount` and a promotion code `code` for it."""
        money = instruction.amount
        assert money is not None
        meta = metadata_of(instruction)
        coupon = await self._call(
            lambda: self._client.v1.coupons.create_async(
                {
                    "amount_off": to_minor(money),
                    "currency": money.currency.lower(),
                    "duration": "once",
                    "max_redemptions": 1,
                    "name": f"Case {instruction.case_id}"[:40],
                    "metadata": meta,
                },
                {"idempotency_key": f"{instruction.key}:coupon"},
            )
        )
        params: dict[str, Any] = {
            "promotion": {"type": "coupon", "coupon": coupon.id},
            "code": code,
            "max_redemptions": 1,
            "metadata": meta,
        }
        if instruction.payment_customer_id:
            params["customer"] = instruction.payment_customer_id
        return await self._call(
            lambda: self._client.v1.promotion_codes.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": f"{instruction.key}:promotion_code"},
            )
        )

    async def find(self, instruction: IssueInstruction, *, max_pages: int = 20) -> PaymentResult | None:
        """The refund or credit made for `instruction.key`, if the provider has one."""
        if instruction.kind is CompensationKind.REFUND:
            if not instruction.payment_reference:
                return None
            target = _payment_param(instruction.payment_reference)

            def page(after: str | None) -> Awaitable[Any]:
                params: dict[str, Any] = {**target, "limit": 100}
                if after:
                    params["starting_after"] = after
                return self._client.v1.refunds.list_async(params)  # type: ignore[arg-type]
        elif instruction.kind is CompensationKind.CREDIT:
            customer = instruction.payment_customer_id
            if not customer:
                return None

            def page(after: str | None) -> Awaitable[Any]:
                params: dict[str, Any] = {"limit": 100}
                if after:
                    params["starting_after"] = after
                return self._client.v1.customers.balance_transactions.list_async(customer, params)  # type: ignore[arg-type]
        else:
            return None
        after: str | None = None
        for _ in range(max_pages):
            try:
                listed = await page(after)
            except stripe.StripeError as err:
                raise PaymentUnavailable(f"payment lookup failed: {_describe(err)}") from None
            items = list(listed.data)
            for item in items:
                meta = item.to_dict().get("metadata") or {}
                if meta.get("idempotency_key") == instruction.key:
                    return PaymentResult(id=str(item.id), replayed=True)
            if not listed.has_more or not items:
                return None
            after = str(items[-1].id)
        raise PaymentUnavailable(f"payment for {instruction.key} not found within {max_pages} pages")

    async def _call(self, request: Callable[[], Awaitable[Any]]) -> PaymentResult:
        try:
            created = await request()
        except stripe.APIConnectionError as err:
            # The request may or may not have reached the provider: only a retry with the same key tells.
            raise PaymentUnavailable(f"payment provider unreachable: {err.user_message or err}") from None
        except stripe.StripeError as err:
            if _final(err):
                raise _declined(err) from None
            # 401/403 (a config fix away), 408, 429, 5xx, a key still in flight (Stripe-Should-Retry).
            raise PaymentUnavailable(f"payment provider answered {_describe(err)}") from None
        ident = getattr(created, "id", None)
        if not isinstance(ident, str) or not ident:
            raise PaymentUnavailable("payment provider answered without an id")
        response = getattr(created, "last_response", None)
        headers = getattr(response, "headers", None) or {}
        return PaymentResult(id=ident, replayed=headers.get("idempotent-replayed") == "true")


def _payment_param(payment: str | None) -> dict[str, str]:
    if payment and payment.startswith("pi_"):
        return {"payment_intent": payment}
    if payment and payment.startswith("ch_"):
        return {"charge": payment}
    raise PaymentDeclined(
        400,
        "invalid_request_error",
        "parameter_missing",
        "the ticket names no payment to refund (order.payment_reference: pi_… or ch_…)",
    )


def _final(err: stripe.StripeError) -> bool:
    """A refusal that the same request with the same key would get again."""
    status = err.http_status or 0
    if (err.headers or {}).get("stripe-should-retry") == "true":
        return False
    if status == 409:  # only an idempotency key reused with other parameters; a lock timeout is not
        return _error_type(err) == "idempotency_error"
    return 400 <= status < 500 and status not in (401, 403, 408, 429)


def _code(err: stripe.StripeError) -> str | None:
    error = err.error
    return err.code or (str(error.code) if error is not None and error.code else None)


def _error_type(err: stripe.StripeError) -> str:
    error = err.error
    return str(error.type) if error is not None and error.type else "api_error"


def _describe(err: stripe.StripeError) -> str:
    code = f"/{_code(err)}" if _code(err) else ""
    return f"{err.http_status} {_error_type(err)}{code}: {err.user_message or err}"


def _declined(err: stripe.StripeError) -> PaymentDeclined:
    return PaymentDeclined(err.http_status or 400, _error_type(err), _code(err), str(err.user_message or err))

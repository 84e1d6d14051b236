"""A Stripe-style payment provider adapter (API v1 shapes), for refunds and customer credits.

Requests are form-encoded POSTs with `Authorization: Bearer <api key>` and
`Idempotency-Key: <instruction key>` (workflow id + proposal sequence: the same on every attempt,
so the provider replays its first answer instead of paying twice):

* refund: `POST {base}/v1/refunds` with `amount` (integer minor units), `currency` (lowercase),
  `reason=requested_by_customer` and `metadata[case_id|workflow_id|customer_id|idempotency_key|...]`.
  An IssueInstruction names no charge or payment intent, so none is sent: mapping a case to the
  charge to refund (`payment_intent` / `charge`) is the provider integration's job (a proxy in front
  of the real provider, or a provider keyed on metadata). The test fake needs no charge.
* credit: `POST {base}/v1/customers/{customer_id}/balance_transactions` with `amount` = negative
  minor units (a credit to the customer's balance), `currency`, `description`, `metadata[...]`.

Answers: 2xx JSON with `id`. Errors are `{"error": {"type", "code", "message"}}`:
402 (declined), 400/404 (invalid, e.g. `amount_too_large`), 409 (idempotency key reused with other
parameters) raise `PaymentDeclined` (final). 401/403 (bad key: fix the config), 408, 429, 5xx, a
409 the provider marks retryable (`Stripe-Should-Retry: true`, e.g. the same key still in flight)
and network errors raise `PaymentUnavailable` (retry with the same key).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from workflows.models import CompensationKind, IssueInstruction
from workflows.money import Money, minor_units

PROVIDER_KINDS = frozenset({CompensationKind.REFUND, CompensationKind.CREDIT})
"""The compensation kinds a payment provider issues; the others are recorded only."""

_RETRYABLE_STATUS = {401, 403, 408, 429}


class PaymentDeclined(Exception):
    """The provider refused the payment for good: retrying with the same key changes nothing."""

    def __init__(self, status: int, error_type: str, code: str | None, message: str):
        self.status, self.error_type, self.code, self.message = status, error_type, code, message
        super().__init__(f"payment provider declined ({status} {error_type}"
                         f"{'/' + code if code else ''}): {message}")


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
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 20.0,
                 transport: httpx.AsyncBaseTransport | None = None):
        if not base_url:
            raise ValueError("the payment provider needs a base URL")
        if not api_key:
            raise ValueError("the payment provider needs an API key")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout
        self._transport = transport

    async def issue(self, instruction: IssueInstruction) -> PaymentResult:
        """Refund or credit `instruction.amount`, keyed by `instruction.key`."""
        if instruction.amount is None:
            raise ValueError(f"a {instruction.kind.value} through the provider needs an amount")
        meta = metadata_of(instruction)
        if instruction.kind is CompensationKind.REFUND:
            return await self.refund(instruction.key, instruction.amount, meta)
        if instruction.kind is CompensationKind.CREDIT:
            return await self.credit(instruction.key, instruction.customer_id, instruction.amount, meta,
                                     description=instruction.reason)
        raise ValueError(f"the payment provider does not issue {instruction.kind.value!r}")

    async def refund(self, key: str, money: Money, metadata: Mapping[str, str]) -> PaymentResult:
        form = {"amount": str(to_minor(money)), "currency": money.currency.lower(),
                "reason": "requested_by_customer"}
        form.update({f"metadata[{k}]": v for k, v in metadata.items()})
        return await self._post("/v1/refunds", key, form)

    async def credit(self, key: str, customer_id: str, money: Money, metadata: Mapping[str, str],
                     description: str = "") -> PaymentResult:
        form = {"amount": str(-to_minor(money)), "currency": money.currency.lower()}
        if description:
            form["description"] = description[:350]
        form.update({f"metadata[{k}]": v for k, v in metadata.items()})
        return await self._post(f"/v1/customers/{customer_id}/balance_transactions", key, form)

    async def _post(self, path: str, key: str, form: dict[str, str]) -> PaymentResult:
        headers = {"Authorization": f"Bearer {self._api_key}", "Idempotency-Key": key}
        try:
            async with httpx.AsyncClient(timeout=self._timeout, transport=self._transport) as http:
                response = await http.post(f"{self.base_url}{path}", data=form, headers=headers)
        except httpx.HTTPError as err:
            # The request may or may not have reached the provider: only a retry with the same key tells.
            raise PaymentUnavailable(f"payment provider unreachable: {type(err).__name__}: {err}") from None
        body = _json(response)
        status = response.status_code
        if 200 <= status < 300:
            ident = body.get("id") if isinstance(body, dict) else None
            if not isinstance(ident, str) or not ident:
                raise PaymentUnavailable(f"payment provider answered {status} without an id")
            return PaymentResult(id=ident, replayed=response.headers.get("Idempotent-Replayed") == "true")
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        error_type = str(error.get("type") or "unknown_error")
        code = error.get("code")
        message = str(error.get("message") or response.text[:300] or response.reason_phrase)
        detail = f"{status} {error_type}{'/' + str(code) if code else ''}: {message}"
        if 400 <= status < 500 and status not in _RETRYABLE_STATUS \
                and response.headers.get("Stripe-Should-Retry") != "true":
            raise PaymentDeclined(status, error_type, str(code) if code else None, message)
        # 5xx, 429, auth (a config fix away), in-flight conflicts, or an answer no payment API gives.
        raise PaymentUnavailable(f"payment provider answered {detail}")


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None

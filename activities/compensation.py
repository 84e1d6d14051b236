"""Issuing compensation: the ledger row first, then (for refunds and credits) the payment provider.

`Compensator.issue_compensation` is the `issue_compensation` activity. Every attempt:

1. reserves the ledger row for `instruction.key` (workflow id + proposal sequence), enforcing the
   per-customer cap across ALL the customer's cases (`activities.store.ledger.reserve`); a retry
   gets the same row back;
2. by the row's status: `succeeded` → its reference (nothing called again); `refused` (cap) or
   `declined` (provider) → non-retryable `ApplicationError(type="CompensationDeclined")`, which
   the workflow records as `compensation_failed` and escalates; `pending` → issue it:
   * mode `agent` (the agent issued it elsewhere, `agent_reference` set): settled with that reference;
   * mode `provider` (a refund or credit, a provider configured): when an earlier attempt left the
     row pending (its outcome unknown), the payment is first looked up at the provider by the
     `idempotency_key` in its metadata (found → settled with it); then the provider is called with
     `Idempotency-Key: <instruction.key>` — the same on every attempt, so a retry after a timeout or
     a worker crash gets the provider's stored answer instead of paying twice — then settled
     `succeeded` (reference = the provider's id) or `declined`;
   * mode `code` (coupon, gift card): a code is drawn, fixed in the row, made redeemable
     (`activities.coupons`: a Stripe promotion code for a coupon when a provider is configured,
     else the ledger code itself) and settled with the code as reference; the workflow shows the
     customer the code;
   * mode `record` (upgrade, none, or a refund/credit with no provider configured): settled with
     `instr-<key>`.
   Provider outages, 429/5xx and network errors raise an ordinary (retryable) error; Temporal
   retries with the workflow's ISSUE_RETRY.

The cap: the workflow checks the cap within its own case against the policy snapshotted in it;
across cases only the ledger knows the totals, so the worker's policy (`load_policy()` at worker
start) supplies `customer_cap` (per currency; a currency without an entry has no cap) and
`cap_window`. The cap applies to every kind carrying an amount, agent-issued ones included (as in
the workflow's own check). IssueInstruction carries no cap on purpose.

Worker wiring (see `Compensator.from_env`): `RECOVERY_PAYMENTS_URL` (Stripe's API base URL,
`https://api.stripe.com`, or a proxy; unset = record mode) and `RECOVERY_PAYMENTS_KEY` (the secret
key, required with the URL), then `activities=[..., compensator.issue_compensation]`. Refunds go to
the ticket's `order.payment_reference` (`pi_…`/`ch_…`), credits to `customer.payment_customer_id`
(`cus_…`); a provider-mode compensation without them is declined with that reason (and escalated).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import asyncpg
import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.coupons import CODE_KINDS, CodeIssuer, LedgerCodes, StripePromotionCodes, new_code
from activities.payments import PROVIDER_KINDS, PaymentDeclined, PaymentUnavailable, StripePayments
from activities.store import ledger
from activities.store.ledger import LedgerRow, Mode
from workflows.effects import ISSUE_COMPENSATION, IssueInstruction, IssueResult
from workflows.policy import Policy
from workflows.rules import load_policy_set

log = structlog.get_logger("compensation")

DECLINED = "CompensationDeclined"
"""The error type the workflow's retry policy never retries (ISSUE_RETRY)."""


def declined(message: str, row: LedgerRow) -> ApplicationError:
    return ApplicationError(
        message, {"key": row.idempotency_key, "status": row.status, "mode": row.mode}, type=DECLINED, non_retryable=True
    )


class Compensator:
    """Issues compensations through the ledger and, when configured, Stripe (official `stripe` library).

    `provider_url`/`api_key`: the provider (both or neither; neither = record mode for all kinds).
    `customer_cap`/`cap_window`: the worker's policy `compensation.customer_cap` and `cap_window`.
    `now`: the clock (tests pin it). `timeout`: per provider request, below the activity's 30 s.
    `max_network_retries`: the `stripe` library's own quick retries (same idempotency key) of
    connection errors, 409 conflicts and 5xx, within one activity attempt.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        provider_url: str | None = None,
        api_key: str | None = None,
        customer_cap: Mapping[str, Decimal] | None = None,
        cap_window: timedelta = timedelta(days=90),
        *,
        timeout: float = 20.0,
        max_network_retries: int = 2,
        now: Callable[[], datetime] | None = None,
    ):
        if provider_url and not api_key:
            raise ValueError("a payment provider URL needs an API key (RECOVERY_PAYMENTS_KEY)")
        self.pool = pool
        self.payments = (
            StripePayments(provider_url, api_key or "", timeout=timeout, max_network_retries=max_network_retries)
            if provider_url
            else None
        )
        self.codes: CodeIssuer = StripePromotionCodes(self.payments) if self.payments else LedgerCodes()
        self.customer_cap = dict(customer_cap or {})
        self.cap_window = cap_window
        self._now = now or (lambda: datetime.now(timezone.utc))

    @classmethod
    def from_env(cls, pool: asyncpg.Pool, policy: Policy | None = None) -> Compensator:
        """`RECOVERY_PAYMENTS_URL`, `RECOVERY_PAYMENTS_KEY`, and the cap of `policy` (default: `load_policy()`)."""
        policy = policy or load_policy_set().primary  # a policy set: its default policy's cap
        return cls(
            pool,
            os.environ.get("RECOVERY_PAYMENTS_URL") or None,
            os.environ.get("RECOVERY_PAYMENTS_KEY") or None,
            customer_cap=policy.compensation.customer_cap,
            cap_window=policy.compensation.cap_window,
        )

    def mode_of(self, instruction: IssueInstruction) -> Mode:
        if instruction.agent_reference is not None:
            return "agent"
        if self.payments is not None and instruction.kind in PROVIDER_KINDS and instruction.amount is not None:
            return "provider"
        if instruction.kind in CODE_KINDS:
            return "code"
        return "record"

    @activity.defn(name=ISSUE_COMPENSATION)
    async def issue_compensation(self, instruction: IssueInstruction) -> IssueResult:
        bound = log.bind(
            case_id=instruction.case_id,
            workflow_id=instruction.workflow_id,
            key=instruction.key,
            attempt=activity.info().attempt,
        )
        cap = self.customer_cap.get(instruction.amount.currency) if instruction.amount is not None else None
        row = await ledger.reserve(self.pool, instruction, self.mode_of(instruction), cap, self.cap_window, self._now())
        bound = bound.bind(mode=row.mode)
        if row.status == "pending":
            row = await self._issue(instruction, row, bound)
        return self._result(row, bound, instruction)

    async def _issue(
        self, instruction: IssueInstruction, row: LedgerRow, bound: structlog.typing.FilteringBoundLogger
    ) -> LedgerRow:
        if row.mode == "agent":
            reference = instruction.agent_reference or f"instr-{instruction.key}"
            return await ledger.settle(
                self.pool, row.idempotency_key, "succeeded", reference, f"issued by agent {instruction.issued_by.id}"
            )
        if row.mode == "code":
            # The code is fixed in the row first: every retry issues (and the customer gets) the same one.
            code = await ledger.claim_reference(self.pool, row.idempotency_key, new_code(instruction.kind))
            try:
                where = await self.codes.issue(instruction, code)
            except PaymentDeclined as err:
                return await ledger.settle(self.pool, row.idempotency_key, "declined", code, str(err))
            return await ledger.settle(
                self.pool, row.idempotency_key, "succeeded", code, None if where == code else f"promotion code {where}"
            )
        if row.mode == "record":
            return await ledger.settle(self.pool, row.idempotency_key, "succeeded", f"instr-{instruction.key}", None)
        if self.payments is None:
            # Started through a provider by an earlier attempt: only that provider can say what happened.
            raise PaymentUnavailable(
                f"ledger row {row.idempotency_key} is pending at the payment provider, "
                "but this worker has no provider configured (RECOVERY_PAYMENTS_URL)"
            )
        if not row.fresh:
            # An earlier attempt may have paid and lost the answer, and the provider forgets
            # idempotency keys after a day: look the payment up by its key before asking again.
            found = await self.payments.find(instruction)
            if found is not None:
                bound.info("payment found at the provider by its idempotency key", reference=found.id)
                return await ledger.settle(
                    self.pool,
                    row.idempotency_key,
                    "succeeded",
                    found.id,
                    "found at the provider by its idempotency key",
                )
        bound.info(
            "calling payment provider",
            kind=instruction.kind.value,
            amount=str(instruction.amount),
            customer_id=instruction.customer_id,
        )
        try:
            paid = await self.payments.issue(instruction)
        except PaymentDeclined as err:
            bound.warning(
                "payment provider declined",
                status=err.status,
                error_type=err.error_type,
                code=err.code,
                message=err.message,
            )
            return await ledger.settle(self.pool, row.idempotency_key, "declined", None, str(err))
        except PaymentUnavailable as err:
            bound.warning("payment provider unavailable; Temporal will retry", error=str(err))
            raise
        return await ledger.settle(
            self.pool, row.idempotency_key, "succeeded", paid.id, "replayed by the provider" if paid.replayed else None
        )

    def _result(
        self, row: LedgerRow, bound: structlog.typing.FilteringBoundLogger, instruction: IssueInstruction
    ) -> IssueResult:
        if row.status == "succeeded":
            assert row.reference is not None
            bound.info(
                "compensation issued",
                kind=row.kind,
                amount=str(instruction.amount) if instruction.amount else None,
                customer_id=row.customer_id,
                reference=row.reference,
                issued_by=instruction.issued_by.id,
                approved_by=instruction.approved_by.id if instruction.approved_by else None,
            )
            return IssueResult(
                reference=row.reference,
                agent_issued=row.mode == "agent",
                code=row.reference if row.mode == "code" else None,
            )
        if row.status == "refused":
            bound.warning("compensation refused by the customer cap", detail=row.detail)
            raise declined(f"compensation refused: {row.detail}", row)
        if row.status == "declined":
            raise declined(f"compensation declined: {row.detail}", row)
        raise PaymentUnavailable(f"ledger row {row.idempotency_key} is still {row.status}")

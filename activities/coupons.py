"""Coupon and gift card codes: what the customer redeems, generated once per compensation.

A code is drawn at random (`new_code`, 12 characters from an alphabet without look-alikes) and
fixed in the compensation's ledger row before anything is issued (`ledger.claim_reference`), so
every retry issues the same code. Issuers:

* `LedgerCodes` (always available): the code itself is the compensation; the shop redeems it
  against the ledger (reference = the code).
* `StripePromotionCodes` (coupons, when a Stripe key is configured): a one-off coupon
  (`amount_off`, `currency`, `duration=once`, `max_redemptions=1`) and a promotion code carrying the
  generated code, each under its own idempotency key (`<key>:coupon`, `<key>:promotion_code`).
"""

from __future__ import annotations

import secrets
from typing import Protocol

from activities.payments import StripePayments
from workflows.effects import IssueInstruction
from workflows.models import CompensationKind

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
"""No 0/O, 1/I/L: codes are read out and typed by customers."""

CODE_KINDS = frozenset({CompensationKind.COUPON, CompensationKind.GIFT})


def new_code(kind: CompensationKind) -> str:
    prefix = "GIFT" if kind is CompensationKind.GIFT else "SORRY"
    body = "".join(secrets.choice(ALPHABET) for _ in range(12))
    return f"{prefix}-{body[:4]}-{body[4:8]}-{body[8:]}"


class CodeIssuer(Protocol):
    async def issue(self, instruction: IssueInstruction, code: str) -> str:
        """Make `code` redeemable; returns where it lives (the provider's id, or the code)."""
        ...


class LedgerCodes:
    async def issue(self, instruction: IssueInstruction, code: str) -> str:
        return code


class StripePromotionCodes:
    def __init__(self, payments: StripePayments):
        self.payments = payments

    async def issue(self, instruction: IssueInstruction, code: str) -> str:
        if instruction.kind is not CompensationKind.COUPON or instruction.amount is None:
            return code  # gift cards (no Stripe product) and coupons without an amount stay ledger codes
        promotion = await self.payments.promotion_code(instruction, code)
        return promotion.id

"""The compensation ledger: one row per compensation (idempotency key = workflow id + proposal
sequence), written before any payment provider is called, settled after.

`reserve` is where the per-customer cap across all of a customer's cases is enforced: it runs in
one transaction holding `pg_advisory_xact_lock(hashtext(customer_id))`, so two cases of the same
customer issuing at once cannot both slip under the cap. A retry of the same compensation finds
its row (whatever its status) and gets it back unchanged, so rows stay exactly one per key.

Statuses: `pending` (reserved, outcome not yet known), `succeeded`, `declined` (the provider
refused it), `refused` (the cap refused it; no provider was called).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

import asyncpg

from workflows.durations import format_duration
from workflows.effects import IssueInstruction
from workflows.money import minor_units

Mode = Literal["provider", "agent", "record", "code"]
Status = Literal["pending", "succeeded", "declined", "refused"]

MODES: frozenset[str] = frozenset({"provider", "agent", "record", "code"})
STATUSES: frozenset[str] = frozenset({"pending", "succeeded", "declined", "refused"})
COUNTED = ("pending", "succeeded")
"""Statuses that count toward the customer's cap: money that left, or may be leaving."""

_COLUMNS = (
    "idempotency_key, workflow_id, case_id, customer_id, kind, amount, currency, mode, status, "
    "reference, detail, created_at, updated_at, issued_by, approved_by"
)


@dataclass(frozen=True)
class LedgerRow:
    idempotency_key: str
    workflow_id: str
    case_id: str
    customer_id: str
    kind: str
    amount: Decimal | None
    currency: str | None
    mode: str
    status: str
    reference: str | None
    detail: str | None
    created_at: datetime
    updated_at: datetime
    issued_by: str | None = None
    """Who issued it: the agent, or `customer` for a remedy picked from an offer (migration 019)."""
    approved_by: str | None = None
    """Whose authority approved it: an approver, or the agent who made the offer."""
    fresh: bool = False
    """Created by this `reserve` call; False for a row an earlier attempt left (maybe mid-payment)."""

    @classmethod
    def from_record(cls, record: asyncpg.Record) -> LedgerRow:
        return cls(**dict(record))


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount:.{minor_units(currency)}f} {currency}"


async def reserve(
    pool: asyncpg.Pool, instruction: IssueInstruction, mode: Mode, cap: Decimal | None, window: timedelta, now: datetime
) -> LedgerRow:
    """The ledger row of `instruction`, created when missing.

    An existing row (same idempotency key) comes back unchanged. A new row is `refused` when `cap`
    is given, the instruction has an amount, and this customer's `pending`/`succeeded` amounts in
    that currency created after `now - window`, plus this amount, are above `cap`; else `pending`.
    `now` is the new row's `created_at` (the window is measured on it).
    """
    if mode not in MODES:
        raise ValueError(f"unknown ledger mode {mode!r}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    amount = instruction.amount.amount if instruction.amount is not None else None
    currency = instruction.amount.currency if instruction.amount is not None else None
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", instruction.customer_id)
        existing = await conn.fetchrow(f"SELECT {_COLUMNS} FROM ledger WHERE idempotency_key = $1", instruction.key)
        if existing is not None:
            return LedgerRow.from_record(existing)
        status: Status = "pending"
        detail: str | None = None
        if cap is not None and amount is not None and currency is not None:
            granted = await conn.fetchval(
                "SELECT COALESCE(sum(amount), 0) FROM ledger WHERE customer_id = $1 AND currency = $2 "
                "AND status = ANY($3::text[]) AND created_at > $4",
                instruction.customer_id,
                currency,
                list(COUNTED),
                now - window,
            )
            total = granted + amount
            if total > cap:
                status = "refused"
                detail = (
                    f"customer cap: {_money(granted, currency)} already granted to customer "
                    f"{instruction.customer_id} within {_window(window)} + {_money(amount, currency)} "
                    f"= {_money(total, currency)}, above the cap of {_money(cap, currency)}"
                )
        # ON CONFLICT: belt and braces; the advisory lock already serialises this customer's writers.
        await conn.execute(
            "INSERT INTO ledger (idempotency_key, workflow_id, case_id, customer_id, kind, amount, currency, "
            "mode, status, detail, created_at, updated_at, issued_by, approved_by) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13) "
            "ON CONFLICT (idempotency_key) DO NOTHING",
            instruction.key,
            instruction.workflow_id,
            instruction.case_id,
            instruction.customer_id,
            instruction.kind.value,
            amount,
            currency,
            mode,
            status,
            detail,
            now,
            instruction.issued_by.id,
            instruction.approved_by.id if instruction.approved_by else None,
        )
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM ledger WHERE idempotency_key = $1", instruction.key)
    assert row is not None
    return replace(LedgerRow.from_record(row), fresh=True)


async def settle(
    pool: asyncpg.Pool, key: str, status: Status, reference: str | None, detail: str | None = None
) -> LedgerRow:
    """Move a `pending` row to its outcome and return it. A row already settled is left as it is
    (the first outcome wins, so a late duplicate attempt cannot overwrite it) and returned."""
    if status not in STATUSES or status == "pending":
        raise ValueError(f"cannot settle a ledger row as {status!r}")
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            f"UPDATE ledger SET status = $2, reference = $3, detail = $4, updated_at = now() "
            f"WHERE idempotency_key = $1 AND status = 'pending' RETURNING {_COLUMNS}",
            key,
            status,
            reference,
            detail,
        )
        if row is None:
            row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM ledger WHERE idempotency_key = $1", key)
    if row is None:
        raise KeyError(f"no ledger row for {key!r}")
    return LedgerRow.from_record(row)


async def claim_reference(pool: asyncpg.Pool, key: str, reference: str) -> str:
    """Fix the reference of a `pending` row before anything is issued (a coupon code sent to the
    provider under an idempotency key must be the same on every attempt). Returns the one stored."""
    stored = await pool.fetchval(
        "UPDATE ledger SET reference = COALESCE(reference, $2), updated_at = now() "
        "WHERE idempotency_key = $1 RETURNING reference",
        key,
        reference,
    )
    if stored is None:
        raise KeyError(f"no ledger row for {key!r}")
    return str(stored)


async def get(pool: asyncpg.Pool, key: str) -> LedgerRow | None:
    row = await pool.fetchrow(f"SELECT {_COLUMNS} FROM ledger WHERE idempotency_key = $1", key)
    return LedgerRow.from_record(row) if row is not None else None


async def for_customer(pool: asyncpg.Pool, customer_id: str) -> list[LedgerRow]:
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM ledger WHERE customer_id = $1 ORDER BY created_at, idempotency_key", customer_id
    )
    return [LedgerRow.from_record(r) for r in rows]


def _window(window: timedelta) -> str:
    return format_duration(window)

"""The `recent_charges` table (migration 012): the Stripe charges seen, by id, customer, order and
amount — for the `duplicate_charge` rule and to find the customer and order of a dispute, which
names only its charge. Rows older than `charge_retention_days` are pruned, at most once a minute
per API process. Without a reachable database both rules are skipped (logged); nothing else is."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

log = logging.getLogger("recovery.api")
PRUNE_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class SeenCharge:
    charge_id: str
    customer_id: str
    order_id: str | None
    amount_minor: int
    currency: str
    charged_at: datetime


class RecentCharges:
    def __init__(self) -> None:
        self._pruned_at: datetime | None = None

    async def record(self, pool: Any, charge: SeenCharge, now: datetime, retention: timedelta) -> bool:
        """Remember the charge (a redelivery changes nothing); False when the database is unreachable."""
        try:
            if self._pruned_at is None or abs(now - self._pruned_at) >= PRUNE_EVERY:
                self._pruned_at = now
                await pool.execute("DELETE FROM recent_charges WHERE received_at < $1", now - retention)
            await pool.execute(
                "INSERT INTO recent_charges (charge_id, customer_id, order_id, amount_minor, currency, charged_at, "
                "received_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (charge_id) DO NOTHING",
                charge.charge_id,
                charge.customer_id,
                charge.order_id,
                charge.amount_minor,
                charge.currency,
                charge.charged_at,
                now,
            )
        except (OSError, asyncpg.PostgresError) as err:
            log.warning("recent charges unavailable", extra={"charge_id": charge.charge_id, "error": str(err)})
            return False
        return True

    async def same_within(self, pool: Any, charge: SeenCharge, window: timedelta) -> SeenCharge | None:
        """The earliest other charge of the same customer, amount and currency within `window` of it."""
        try:
            row = await pool.fetchrow(
                "SELECT * FROM recent_charges WHERE customer_id = $1 AND amount_minor = $2 AND currency = $3 "
                "AND charge_id <> $4 AND charged_at BETWEEN $5::timestamptz - $6::interval "
                "AND $5::timestamptz + $6::interval ORDER BY charged_at, charge_id LIMIT 1",
                charge.customer_id,
                charge.amount_minor,
                charge.currency,
                charge.charge_id,
                charge.charged_at,
                window,
            )
        except (OSError, asyncpg.PostgresError) as err:
            log.warning("recent charges unavailable", extra={"charge_id": charge.charge_id, "error": str(err)})
            return None
        return _charge(row) if row is not None else None

    async def find(self, pool: Any, charge_id: str) -> SeenCharge | None:
        try:
            row = await pool.fetchrow("SELECT * FROM recent_charges WHERE charge_id = $1", charge_id)
        except (OSError, asyncpg.PostgresError) as err:
            log.warning("recent charges unavailable", extra={"charge_id": charge_id, "error": str(err)})
            return None
        return _charge(row) if row is not None else None


def _charge(row: Any) -> SeenCharge:
    return SeenCharge(
        charge_id=row["charge_id"],
        customer_id=row["customer_id"],
        order_id=row["order_id"],
        amount_minor=row["amount_minor"],
        currency=row["currency"],
        charged_at=row["charged_at"],
    )

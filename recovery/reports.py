"""SLA report over the read model: step attainment, time to acknowledge / fix / close, escalations,
repeat contacts, compensation totals, root causes and CSAT (customers' own answers apart from the
scores agents entered: recovery/csat.py), for the cases opened in a window.

Plain SQL, one query per section, all read in one repeatable-read transaction so the sections agree.
The model is JSON-friendly: amounts are decimal strings, durations are seconds (floats, rounded to
the millisecond), percentages are floats with one decimal. `recovery.report_text.format_report`
renders it as text.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import asyncpg
from pydantic import BaseModel, PlainSerializer

from recovery.csat import CsatReport, fetch_csat
from recovery.report_window import checked_window
from recovery.report_window import utc_moment as utc_moment  # for the other reports
from workflows.money import minor_units
from workflows.policy import STEP_ORDER, Severity

Amount = Annotated[Decimal, PlainSerializer(str, return_type=str)]

SEVERITIES = [severity.value for severity in Severity]
STEPS = [step.value for step in STEP_ORDER]


class StepSla(BaseModel):
    severity: str
    step: str
    cases: int
    """Distinct cases with this step (a reopened case runs fix → close again, counted once here)."""
    completed: int
    """Completed step rounds."""
    breaches: int
    """Step rounds whose deadline was missed (completed or not)."""
    attainment_pct: float | None
    """Completed without breach / completed × 100, one decimal; None when none completed."""


class Percentiles(BaseModel):
    count: int
    p50_seconds: float | None
    p95_seconds: float | None


class SeverityTimes(BaseModel):
    severity: str
    cases: int
    acknowledge: Percentiles
    fix: Percentiles
    close: Percentiles
    """From opened_at to acknowledged_at / fixed_at (first fix) / closed_at."""


class EscalationLevel(BaseModel):
    level: int
    count: int


class RepeatContacts(BaseModel):
    cases: int
    repeat_cases: int
    """Cases with more than one contact."""
    pct: float | None


class CompensationByKind(BaseModel):
    kind: str
    currency: str | None
    count: int
    amount: Amount | None


class CompensationByRootCause(BaseModel):
    root_cause: str
    """`open` for cases not closed yet."""
    currency: str | None
    count: int
    amount: Amount | None


class RootCauseCount(BaseModel):
    root_cause: str
    cases: int


class Totals(BaseModel):
    cases: int
    open: int
    closed: int
    breaches: int


class SlaReport(BaseModel):
    since: datetime | None
    until: datetime | None
    totals: Totals
    steps: list[StepSla]
    times: list[SeverityTimes]
    escalations: list[EscalationLevel]
    repeat_contacts: RepeatContacts
    compensation_by_kind: list[CompensationByKind]
    compensation_by_root_cause: list[CompensationByRootCause]
    top_root_causes: list[RootCauseCount]
    csat: CsatReport
    """Customers' own follow-up answers (asked, answered, scores) apart from the scores agents entered."""


# ---- queries ---------------------------------------------------------------------------------
# $1 = since, $2 = until (either may be null); the cases selected are those opened in [since, until).

_SELECTED = """
WITH selected AS (
    SELECT *
    FROM cases
    WHERE ($1::timestamptz IS NULL OR opened_at >= $1)
      AND ($2::timestamptz IS NULL OR opened_at <  $2)
)
"""

_ORDER_SEVERITY = f"array_position(ARRAY{SEVERITIES!r}::text[], {{col}})"
_ORDER_STEP = f"array_position(ARRAY{STEPS!r}::text[], {{col}})"

TOTALS_SQL = (
    _SELECTED
    + """
SELECT count(*)                                  AS cases,
       count(*) FILTER (WHERE closed_at IS NULL) AS open,
       count(closed_at)                          AS closed,
       coalesce(sum(breaches), 0)                AS breaches
FROM selected
"""
)

STEPS_SQL = (
    _SELECTED
    + f"""
SELECT st.severity,
       st.step,
       -- the cases: each case's first round at this severity and step (a reopened case runs a step
       -- again in round 2); a lookup for the few later rounds instead of a sort of every row (DISTINCT)
       count(*) FILTER (WHERE st.round = 1 OR NOT EXISTS (
           SELECT 1 FROM case_steps earlier
           WHERE earlier.workflow_id = st.workflow_id AND earlier.round < st.round
             AND earlier.step = st.step AND earlier.severity = st.severity
       ))                                                              AS cases,
       count(st.completed_at)                                          AS completed,
       count(*) FILTER (WHERE st.breached)                             AS breaches,
       round(100.0 * count(*) FILTER (WHERE st.completed_at IS NOT NULL AND NOT st.breached)
                   / nullif(count(st.completed_at), 0), 1)::float8     AS attainment_pct
FROM case_steps st
JOIN selected USING (workflow_id)
GROUP BY st.severity, st.step
ORDER BY {_ORDER_SEVERITY.format(col="st.severity")}, st.severity,
         {_ORDER_STEP.format(col="st.step")}, st.step
"""
)

TIMES_SQL = (
    _SELECTED
    + f"""
, durations AS (
    SELECT severity,
           extract(epoch FROM acknowledged_at - opened_at)::float8 AS acknowledge,
           extract(epoch FROM fixed_at - opened_at)::float8        AS fix,
           extract(epoch FROM closed_at - opened_at)::float8       AS close
    FROM selected
)
SELECT severity,
       count(*)                                                         AS cases,
       count(acknowledge)                                               AS acknowledge_count,
       percentile_cont(0.5)  WITHIN GROUP (ORDER BY acknowledge)        AS acknowledge_p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY acknowledge)        AS acknowledge_p95,
       count(fix)                                                       AS fix_count,
       percentile_cont(0.5)  WITHIN GROUP (ORDER BY fix)                AS fix_p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY fix)                AS fix_p95,
       count(close)                                                     AS close_count,
       percentile_cont(0.5)  WITHIN GROUP (ORDER BY close)              AS close_p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY close)              AS close_p95
FROM durations
GROUP BY severity
ORDER BY {_ORDER_SEVERITY.format(col="severity")}, severity
"""
)

ESCALATIONS_SQL = (
    _SELECTED
    + """
SELECT (e.data->>'level')::int AS level,
       count(*)                AS count
FROM events e
JOIN selected USING (workflow_id)
WHERE e.type = 'escalated'
GROUP BY 1
ORDER BY 1
"""
)

REPEAT_SQL = (
    _SELECTED
    + """
SELECT count(*)                                                              AS cases,
       count(*) FILTER (WHERE contact_count > 1)                             AS repeat_cases,
       round(100.0 * count(*) FILTER (WHERE contact_count > 1)
                   / nullif(count(*), 0), 1)::float8                         AS pct
FROM selected
"""
)

COMPENSATION_BY_KIND_SQL = (
    _SELECTED
    + """
SELECT cc.kind,
       cc.currency,
       count(*)       AS count,
       sum(cc.amount) AS amount
FROM case_compensations cc
JOIN selected USING (workflow_id)
GROUP BY cc.kind, cc.currency
ORDER BY cc.kind, cc.currency
"""
)

COMPENSATION_BY_ROOT_CAUSE_SQL = (
    _SELECTED
    + """
SELECT coalesce(s.root_cause, 'open') AS root_cause,
       cc.currency,
       count(*)                       AS count,
       sum(cc.amount)                 AS amount
FROM case_compensations cc
JOIN selected s USING (workflow_id)
GROUP BY s.root_cause, cc.currency
ORDER BY s.root_cause IS NULL, s.root_cause, cc.currency
"""
)

TOP_ROOT_CAUSES_SQL = (
    _SELECTED
    + """
SELECT root_cause,
       count(*) AS cases
FROM selected
WHERE root_cause IS NOT NULL
GROUP BY root_cause
ORDER BY count(*) DESC, root_cause
LIMIT $3
"""
)


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def _money(amount: Decimal | None, currency: str | None) -> Decimal | None:
    """The sum at the currency's minor units (exact: every amount fits them); as stored otherwise."""
    if amount is None:
        return None
    if currency is None:
        return amount
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)))


def _percentiles(row: asyncpg.Record, name: str) -> Percentiles:
    return Percentiles(
        count=row[f"{name}_count"], p50_seconds=_seconds(row[f"{name}_p50"]), p95_seconds=_seconds(row[f"{name}_p95"])
    )


async def sla_report(
    pool: asyncpg.Pool, *, since: datetime | None = None, until: datetime | None = None, top: int = 5
) -> SlaReport:
    """The SLA report of the cases opened in [since, until) (either bound optional)."""
    since, until = checked_window(since, until)
    if top < 0:
        raise ValueError("top must not be negative")
    window = (since, until)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        totals = await conn.fetchrow(TOTALS_SQL, *window)
        steps = await conn.fetch(STEPS_SQL, *window)
        times = await conn.fetch(TIMES_SQL, *window)
        escalations = await conn.fetch(ESCALATIONS_SQL, *window)
        repeat = await conn.fetchrow(REPEAT_SQL, *window)
        by_kind = await conn.fetch(COMPENSATION_BY_KIND_SQL, *window)
        by_root_cause = await conn.fetch(COMPENSATION_BY_ROOT_CAUSE_SQL, *window)
        root_causes = await conn.fetch(TOP_ROOT_CAUSES_SQL, *window, top)
        csat = await fetch_csat(conn, *window)
    return SlaReport(
        since=since,
        until=until,
        totals=Totals(**dict(totals)),
        steps=[StepSla(**dict(r)) for r in steps],
        times=[
            SeverityTimes(
                severity=r["severity"],
                cases=r["cases"],
                acknowledge=_percentiles(r, "acknowledge"),
                fix=_percentiles(r, "fix"),
                close=_percentiles(r, "close"),
            )
            for r in times
        ],
        escalations=[EscalationLevel(**dict(r)) for r in escalations],
        repeat_contacts=RepeatContacts(**dict(repeat)),
        compensation_by_kind=[
            CompensationByKind(
                kind=r["kind"], currency=r["currency"], count=r["count"], amount=_money(r["amount"], r["currency"])
            )
            for r in by_kind
        ],
        compensation_by_root_cause=[
            CompensationByRootCause(
                root_cause=r["root_cause"],
                currency=r["currency"],
                count=r["count"],
                amount=_money(r["amount"], r["currency"]),
            )
            for r in by_root_cause
        ],
        top_root_causes=[RootCauseCount(**dict(r)) for r in root_causes],
        csat=csat,
    )

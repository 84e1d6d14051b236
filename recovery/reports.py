"""SLA report over the read model: step attainment, time to acknowledge / fix / close, escalations,
repeat contacts, compensation totals and root causes, for the cases opened in a window.

Plain SQL, one query per section, all read in one repeatable-read transaction so the sections agree.
The model is JSON-friendly: amounts are decimal strings, durations are seconds (floats, rounded to
the millisecond), percentages are floats with one decimal. `format_report` renders it as text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

import asyncpg
from pydantic import BaseModel, PlainSerializer

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
       count(DISTINCT st.workflow_id)                                  AS cases,
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


def utc_moment(value: datetime | None) -> datetime | None:
    """Naive datetimes are taken as UTC; a moment that has no UTC time (0001-01-01T00:00+14:00,
    9999-12-31T23:59-14:00) is a ValueError."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is outside the range of UTC times (years 1-9999)") from None


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
    since, until = utc_moment(since), utc_moment(until)
    if since is not None and until is not None and since > until:
        raise ValueError(f"since ({since.isoformat()}) is after until ({until.isoformat()})")
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
    )


# ---- text ------------------------------------------------------------------------------------

MISSING = "-"


def format_duration(seconds: float | None) -> str:
    """`45s`, `12m 05s`, `1h 05m`, `2d 3h` (two units, the smaller one truncated); `-` for none."""
    if seconds is None:
        return MISSING
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def format_pct(value: float | None) -> str:
    return MISSING if value is None else f"{value:.1f}%"


def _text(value: object) -> str:
    return MISSING if value is None else str(value)


def _table(headers: list[str], rows: list[list[str]], *, right_from: int) -> list[str]:
    """Fixed-width columns; columns from index `right_from` on are right-aligned (numbers)."""
    if not rows:
        return ["  (none)"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return (
            "  "
            + "  ".join(
                c.rjust(w) if i >= right_from else c.ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()
        )

    return [line(headers), "  " + "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def _window(report: SlaReport) -> str:
    if report.since is None and report.until is None:
        return "all cases"
    since = report.since.isoformat() if report.since else "the beginning"
    until = report.until.isoformat() if report.until else "now"
    return f"cases opened from {since} until {until}"


def format_report(report: SlaReport) -> str:
    """The report as fixed-width text tables (`recovery report`)."""
    t, rc = report.totals, report.repeat_contacts
    out = [f"SLA report: {_window(report)}", ""]

    out += ["Totals"]
    out += _table(
        ["cases", "open", "closed", "breaches", "repeat contacts"],
        [
            [
                str(t.cases),
                str(t.open),
                str(t.closed),
                str(t.breaches),
                f"{rc.repeat_cases}/{rc.cases} ({format_pct(rc.pct)})",
            ]
        ],
        right_from=0,
    )

    out += ["", "Step attainment"]
    out += _table(
        ["severity", "step", "cases", "completed", "breaches", "attainment"],
        [
            [s.severity, s.step, str(s.cases), str(s.completed), str(s.breaches), format_pct(s.attainment_pct)]
            for s in report.steps
        ],
        right_from=2,
    )

    out += ["", "Time from opening (p50 / p95)"]
    out += _table(
        ["severity", "cases", "ack p50", "ack p95", "fix p50", "fix p95", "close p50", "close p95"],
        [
            [
                s.severity,
                str(s.cases),
                format_duration(s.acknowledge.p50_seconds),
                format_duration(s.acknowledge.p95_seconds),
                format_duration(s.fix.p50_seconds),
                format_duration(s.fix.p95_seconds),
                format_duration(s.close.p50_seconds),
                format_duration(s.close.p95_seconds),
            ]
            for s in report.times
        ],
        right_from=1,
    )

    out += ["", "Escalations by level"]
    out += _table(["level", "escalations"], [[str(e.level), str(e.count)] for e in report.escalations], right_from=0)

    out += ["", "Compensation by kind"]
    out += _table(
        ["kind", "currency", "count", "amount"],
        [[c.kind, _text(c.currency), str(c.count), _text(c.amount)] for c in report.compensation_by_kind],
        right_from=2,
    )

    out += ["", "Compensation by root cause"]
    out += _table(
        ["root cause", "currency", "count", "amount"],
        [[c.root_cause, _text(c.currency), str(c.count), _text(c.amount)] for c in report.compensation_by_root_cause],
        right_from=2,
    )

    out += ["", "Top root causes"]
    out += _table(["root cause", "cases"], [[r.root_cause, str(r.cases)] for r in report.top_root_causes], right_from=1)
    return "\n".join(out) + "\n"

"""Causes report over the read model: per root cause, the cases closed in a window, their share of
all closed cases, repeat contacts, reopenings, compensation per currency, handling times, the
follow-up scores (CSAT: all of them, and the customers' own apart from those agents entered) and
breaches, each cause's trend against the previous period of the same length, and a weekly series of
closes per cause.

A case belongs to the window it was *closed* in (`closed_at` in [since, until)), under the root cause
it closed with (`unspecified` for histories whose `closed` event has none). Everything is read from
the read model in one repeatable-read transaction: `cases` (with the per-case figures the projection
writes at every change, activities/store/case_figures.py), `case_compensations` and the prevention
actions; nothing asks Temporal. `recovery.report_text.format_causes` renders it
as text, `console.cause_charts` as charts.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import asyncpg
from pydantic import BaseModel

from recovery import prevention
from recovery.prevention import CausePrevention
from recovery.reports import Amount, _money, _seconds, utc_moment

DEFAULT_WEEKS = 8
MAX_WEEKS = 520
UNSPECIFIED = "unspecified"
WEEK = timedelta(days=7)


class Csat(BaseModel):
    n: int
    """Follow-up scores (every one: a reopened case may have been scored twice)."""
    mean: float | None
    """Their mean score (1–5), two decimals; None without any."""


class Trend(BaseModel):
    previous_cases: int
    """Cases closed with this cause in the previous period of the same length, [since − (until − since), since)."""
    change: int
    """cases − previous_cases."""


class CauseRow(BaseModel):
    cause: str
    cases: int
    share: float
    """cases / all cases closed in the window, a fraction (0–1), three decimals."""
    repeat_contacts_per_case: float | None
    """Contacts after the first, per case, two decimals."""
    reopen_rate: float | None
    """Cases reopened at least once / cases, a fraction, three decimals."""
    compensation: dict[str, Amount]
    """Money granted per currency (non-monetary compensation, e.g. an upgrade, has none)."""
    median_handling_s: float | None
    """Median time from opening to closing, seconds."""
    median_agent_step_s: float | None
    """Median per case of the time its agent steps took (acknowledge, fix, compensate and close, every
    round, from the step's start to its completion), without the follow-up wait and time paused."""
    csat: Csat
    """Every score: the customers' own and the agents' entered together."""
    customer_csat: Csat = Csat(n=0, mean=None)
    """The customers' own answers from their case page, by the SLA report's rules (recovery/csat.py):
    per follow-up question, the customer's last answer (a score that completed it, or a middle score)."""
    agent_csat: Csat = Csat(n=0, mean=None)
    """Scores agents entered (`follow_up_done` by anyone but the customer): never in `customer_csat`."""
    breaches: int
    """Steps whose deadline was missed (`deadline_missed` events, counted once per step)."""
    trend: Trend
    prevention: CausePrevention = CausePrevention()
    """The cause's prevention actions: open ones, and done ones with the cause's closed cases per week in
    the N weeks (`effect_weeks`, 4) before and after each was done."""


class WeekCount(BaseModel):
    week_start: date
    """Monday of the ISO week, UTC."""
    cause: str
    cases: int


class CausesReport(BaseModel):
    since: datetime
    until: datetime
    causes: list[CauseRow]
    weeks: list[WeekCount]
    """Cases closed per week and cause, every week × every cause of the series (zeros included),
    oldest week first."""
    effect_weeks: int = prevention.EFFECT_WEEKS
    """N of the prevention actions' before/after rates."""


# ---- queries ---------------------------------------------------------------------------------
# $1 = since, $2 = until: the cases closed in [since, until).

_CLOSED = f"""
WITH closed AS (
    SELECT workflow_id, coalesce(root_cause, '{UNSPECIFIED}') AS cause, contact_count, breaches, opened_at, closed_at,
           reopen_count, csat_answers, csat_total, customer_csat_answers, customer_csat_total,
           agent_csat_answers, agent_csat_total, agent_step_s
    FROM cases
    WHERE closed_at >= $1 AND closed_at < $2
)
"""

# One pass over the window's cases: the per-case figures (reopenings, follow-up scores, agent-step
# time) are columns the projection fills (activities/store/case_figures.py), so nothing here reads
# their events or steps. The CSAT mean is sum / count in numeric, as avg() computes it.
CAUSES_SQL = (
    _CLOSED
    + """
SELECT c.cause,
       count(*)                                                              AS cases,
       avg(c.contact_count - 1)::float8                                      AS repeat_contacts,
       count(*) FILTER (WHERE c.reopen_count > 0)                            AS reopened,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM c.closed_at - c.opened_at)::float8)
                                                                             AS median_handling,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY c.agent_step_s)           AS median_agent_step,
       sum(c.breaches)::int                                                  AS breaches,
       sum(c.csat_answers)::int                                              AS csat_n,
       (sum(c.csat_total) / nullif(sum(c.csat_answers), 0))::float8          AS csat_mean,
       sum(c.customer_csat_answers)::int                                     AS customer_csat_n,
       (sum(c.customer_csat_total) / nullif(sum(c.customer_csat_answers), 0))::float8
                                                                             AS customer_csat_mean,
       sum(c.agent_csat_answers)::int                                        AS agent_csat_n,
       (sum(c.agent_csat_total) / nullif(sum(c.agent_csat_answers), 0))::float8
                                                                             AS agent_csat_mean
FROM closed c
GROUP BY c.cause
"""
)

# Each compensation row carries its case's close and root cause (written with it by the projection).
COMPENSATION_SQL = f"""
SELECT coalesce(case_root_cause, '{UNSPECIFIED}') AS cause, currency, sum(amount) AS amount
FROM case_compensations
WHERE case_closed_at >= $1 AND case_closed_at < $2 AND currency IS NOT NULL AND amount IS NOT NULL
GROUP BY 1, 2
ORDER BY 1, 2
"""

COUNTS_SQL = (
    _CLOSED
    + """
SELECT cause, count(*) AS cases FROM closed GROUP BY cause
"""
)

# $1 = the first week's Monday, $2 = until; weeks are Monday 00:00 UTC.
WEEKS_SQL = (
    _CLOSED
    + """
SELECT (date_trunc('week', closed_at AT TIME ZONE 'UTC'))::date AS week_start, cause, count(*) AS cases
FROM closed
GROUP BY 1, 2
"""
)


def window(
    since: datetime | None = None,
    until: datetime | None = None,
    weeks: int | None = None,
    now: datetime | None = None,
) -> tuple[datetime, datetime, int]:
    """The report's [since, until) and the weeks of its series. `until` defaults to now, `since` to
    `weeks` (default 8) weeks before `until`; `weeks` defaults to the weeks the window spans."""
    since, until = utc_moment(since), utc_moment(until)
    if weeks is not None and not 1 <= weeks <= MAX_WEEKS:
        raise ValueError(f"weeks must be from 1 to {MAX_WEEKS}")
    if until is None:
        until = (now or datetime.now(UTC)).astimezone(UTC)
    try:
        if since is None:
            since = until - (weeks or DEFAULT_WEEKS) * WEEK
        if since > until:
            raise ValueError(f"since ({since.isoformat()}) is after until ({until.isoformat()})")
        if weeks is None:
            weeks = min(max(math.ceil((until - since) / WEEK), 1), MAX_WEEKS)
        since - (until - since)  # the previous period and the series must have UTC times too
        week_starts(until, weeks)
    except OverflowError:
        raise ValueError("the window, the period before it and the weeks must lie in the years 1-9999") from None
    return since, until, weeks


def week_starts(until: datetime, weeks: int) -> list[date]:
    """The Mondays (UTC) of the `weeks` weeks up to `until` (exclusive), oldest first."""
    last = (until - timedelta(microseconds=1)).date()
    last -= timedelta(days=last.weekday())
    return [last - WEEK * n for n in range(weeks - 1, -1, -1)]


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def _csat(row: asyncpg.Record | None, name: str) -> Csat:
    return Csat(n=row[f"{name}_n"], mean=_round(row[f"{name}_mean"], 2)) if row else Csat(n=0, mean=None)


async def causes_report(
    pool: asyncpg.Pool,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    weeks: int | None = None,
    now: datetime | None = None,
    effect_weeks: int = prevention.EFFECT_WEEKS,
) -> CausesReport:
    """The causes report of the cases closed in [since, until) (see `window` for the defaults), with each
    cause's prevention actions (rates over `effect_weeks` weeks before and after each was done)."""
    since, until, weeks = window(since, until, weeks, now)
    prevention.check_weeks(effect_weeks)
    previous = (since - (until - since), since)
    mondays = week_starts(until, weeks)
    first_week = datetime.combine(mondays[0], datetime.min.time(), UTC)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        rows = await conn.fetch(CAUSES_SQL, since, until)
        money = await conn.fetch(COMPENSATION_SQL, since, until)
        before = {r["cause"]: r["cases"] for r in await conn.fetch(COUNTS_SQL, *previous)}
        weekly = await conn.fetch(WEEKS_SQL, first_week, until)
        actions = prevention.by_cause(await prevention.actions(conn, now=now, weeks=effect_weeks))

    total = sum(r["cases"] for r in rows)
    compensation: dict[str, dict[str, Decimal]] = {}
    for r in money:
        amount = _money(r["amount"], r["currency"])
        assert amount is not None
        compensation.setdefault(r["cause"], {})[r["currency"]] = amount
    found = {r["cause"]: r for r in rows}
    causes = []
    for cause in set(found) | set(before) | set(actions):
        r = found.get(cause)
        cases = r["cases"] if r else 0
        causes.append(
            CauseRow(
                cause=cause,
                cases=cases,
                share=round(cases / total, 3) if total else 0.0,
                repeat_contacts_per_case=_round(r["repeat_contacts"], 2) if r else None,
                reopen_rate=round(r["reopened"] / cases, 3) if r else None,
                compensation=compensation.get(cause, {}),
                median_handling_s=_seconds(r["median_handling"]) if r else None,
                median_agent_step_s=_seconds(r["median_agent_step"]) if r else None,
                csat=_csat(r, "csat"),
                customer_csat=_csat(r, "customer_csat"),
                agent_csat=_csat(r, "agent_csat"),
                breaches=r["breaches"] if r else 0,
                trend=Trend(previous_cases=before.get(cause, 0), change=cases - before.get(cause, 0)),
                prevention=actions.get(cause, CausePrevention()),
            )
        )
    causes.sort(key=lambda c: (-c.cases, -c.trend.previous_cases, c.cause))

    per_week = {(r["week_start"], r["cause"]): r["cases"] for r in weekly}
    series_causes = sorted({cause for _, cause in per_week})
    return CausesReport(
        since=since,
        until=until,
        causes=causes,
        weeks=[
            WeekCount(week_start=monday, cause=cause, cases=per_week.get((monday, cause), 0))
            for monday in mondays
            for cause in series_causes
        ],
        effect_weeks=effect_weeks,
    )

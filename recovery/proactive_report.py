"""Proactive versus reactive cases, over the read model: time to the first apology, repeat contacts,
CSAT (the customers' own answers apart from the scores agents entered) and compensation per
currency, for the cases opened in a window.

A case is *proactive* when a payment or order event opened it (`cases.source = 'proactive'`,
starter/intake/proactive.py), *reactive* otherwise (a ticket, an e-mail, the API). The first
apology is the `acknowledged` event: the step that sends the customer's acknowledgement ("We're
sorry …"), recorded before the message goes out. A proactive case's rule is read from its `opened`
event (`event_id` = `proactive:<rule>:<ref>`). Same conventions as `recovery.reports`: amounts are
decimal strings, durations seconds, percentages one decimal; one repeatable-read transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import asyncpg
from pydantic import BaseModel

from recovery.causes import Csat as Scores
from recovery.report_text import _table, format_duration, format_pct
from recovery.reports import _SELECTED, Amount, Percentiles, RepeatContacts, _money, _seconds, utc_moment

ORIGINS = ("proactive", "reactive")
_ORIGIN = "CASE WHEN source = 'proactive' THEN 'proactive' ELSE 'reactive' END"


class Csat(BaseModel):
    responses: int
    """Cases with a follow-up score (the latest one of each case, whoever gave it)."""
    average: float | None
    """Two decimals; None without responses."""


class CurrencyTotal(BaseModel):
    currency: str | None
    """None: compensation with no money (an upgrade)."""
    count: int
    amount: Amount | None


class RuleCases(BaseModel):
    rule: str
    cases: int


class OriginFigures(BaseModel):
    origin: str
    """`proactive` or `reactive`."""
    cases: int
    first_apology: Percentiles
    """From opening to the `acknowledged` event (cases acknowledged so far)."""
    repeat_contacts: RepeatContacts
    csat: Csat
    """Every case's latest score, the customer's or an agent's."""
    customer_csat: Scores
    """The customers' own answers from their case page (every one), by the SLA report's rules
    (recovery/csat.py), from the per-case figures (activities/store/case_figures.py)."""
    agent_csat: Scores
    """Scores agents entered (every one): never in `customer_csat`."""
    compensation: list[CurrencyTotal]
    rules: list[RuleCases]
    """Proactive cases per rule (empty for reactive ones)."""


class ProactiveReport(BaseModel):
    since: datetime | None
    until: datetime | None
    origins: list[OriginFigures]
    """Always both, proactive first."""


CASES_SQL = (
    _SELECTED
    + f"""
SELECT {_ORIGIN}                                                                AS origin,
       count(*)                                                                 AS cases,
       count(acknowledged_at)                                                   AS apology_count,
       percentile_cont(0.5)  WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - opened_at)) AS apology_p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - opened_at)) AS apology_p95,
       count(*) FILTER (WHERE contact_count > 1)                                AS repeat_cases,
       count(csat)                                                              AS csat_responses,
       round(avg(csat), 2)::float8                                              AS csat_average,
       sum(customer_csat_answers)::int                                          AS customer_csat_n,
       (sum(customer_csat_total) / nullif(sum(customer_csat_answers), 0))::float8 AS customer_csat_mean,
       sum(agent_csat_answers)::int                                             AS agent_csat_n,
       (sum(agent_csat_total) / nullif(sum(agent_csat_answers), 0))::float8     AS agent_csat_mean
FROM selected
GROUP BY 1
"""
)

COMPENSATION_SQL = (
    _SELECTED
    + f"""
SELECT {_ORIGIN} AS origin, cc.currency, count(*) AS count, sum(cc.amount) AS amount
FROM case_compensations cc
JOIN selected USING (workflow_id)
GROUP BY 1, cc.currency
ORDER BY 1, cc.currency NULLS LAST
"""
)

RULES_SQL = (
    _SELECTED
    + """
SELECT coalesce(nullif(split_part(e.data->>'event_id', ':', 2), ''), 'unknown') AS rule, count(*) AS cases
FROM selected s
JOIN events e ON e.workflow_id = s.workflow_id AND e.seq = 1
WHERE s.source = 'proactive'
GROUP BY 1
ORDER BY count(*) DESC, 1
"""
)


def _scores(row: asyncpg.Record | None, name: str) -> Scores:
    if row is None or row[f"{name}_mean"] is None:
        return Scores(n=row[f"{name}_n"] if row else 0, mean=None)
    return Scores(n=row[f"{name}_n"], mean=round(row[f"{name}_mean"], 2))


async def proactive_report(
    pool: asyncpg.Pool, *, since: datetime | None = None, until: datetime | None = None
) -> ProactiveReport:
    """Proactive and reactive cases opened in [since, until) (either bound optional)."""
    since, until = utc_moment(since), utc_moment(until)
    if since is not None and until is not None and since > until:
        raise ValueError(f"since ({since.isoformat()}) is after until ({until.isoformat()})")
    window = (since, until)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        rows = {r["origin"]: r for r in await conn.fetch(CASES_SQL, *window)}
        money = await conn.fetch(COMPENSATION_SQL, *window)
        rules = await conn.fetch(RULES_SQL, *window)
    origins = []
    for origin in ORIGINS:
        r = rows.get(origin)
        cases = r["cases"] if r else 0
        repeat = r["repeat_cases"] if r else 0
        origins.append(
            OriginFigures(
                origin=origin,
                cases=cases,
                first_apology=Percentiles(
                    count=r["apology_count"] if r else 0,
                    p50_seconds=_seconds(r["apology_p50"]) if r else None,
                    p95_seconds=_seconds(r["apology_p95"]) if r else None,
                ),
                repeat_contacts=RepeatContacts(
                    cases=cases, repeat_cases=repeat, pct=round(100.0 * repeat / cases, 1) if cases else None
                ),
                csat=Csat(responses=r["csat_responses"] if r else 0, average=r["csat_average"] if r else None),
                customer_csat=_scores(r, "customer_csat"),
                agent_csat=_scores(r, "agent_csat"),
                compensation=[
                    CurrencyTotal(currency=m["currency"], count=m["count"], amount=_money(m["amount"], m["currency"]))
                    for m in money
                    if m["origin"] == origin
                ],
                rules=[RuleCases(rule=x["rule"], cases=x["cases"]) for x in rules] if origin == "proactive" else [],
            )
        )
    return ProactiveReport(since=since, until=until, origins=origins)


def comparison_rows(report: ProactiveReport) -> list[list[str]]:
    """The figures as rows of text: label, proactive, reactive (the CLI's table and the console's)."""
    by = {o.origin: o for o in report.origins}
    p, r = by["proactive"], by["reactive"]

    def row(label: str, cell: Callable[[OriginFigures], str]) -> list[str]:
        return [label, cell(p), cell(r)]

    def repeat(o: OriginFigures) -> str:
        return f"{o.repeat_contacts.repeat_cases}/{o.cases} ({format_pct(o.repeat_contacts.pct)})"

    return [
        row("cases", lambda o: str(o.cases)),
        row("acknowledged", lambda o: str(o.first_apology.count)),
        row("first apology p50", lambda o: format_duration(o.first_apology.p50_seconds)),
        row("first apology p95", lambda o: format_duration(o.first_apology.p95_seconds)),
        row("repeat contacts", repeat),
        row("CSAT responses", lambda o: str(o.csat.responses)),
        row("CSAT average", lambda o: "-" if o.csat.average is None else f"{o.csat.average:.2f}"),
        row("customers' own CSAT answers", lambda o: str(o.customer_csat.n)),
        row("customers' own CSAT mean", lambda o: _mean(o.customer_csat)),
        row("agent-entered CSAT scores", lambda o: str(o.agent_csat.n)),
        row("agent-entered CSAT mean", lambda o: _mean(o.agent_csat)),
    ]


def _mean(scores: Scores) -> str:
    return "-" if scores.mean is None else f"{scores.mean:.2f}"


def money_rows(report: ProactiveReport) -> list[list[str]]:
    """Compensation per origin and currency: origin, currency, count, amount."""
    return [
        [o.origin, c.currency or "-", str(c.count), "-" if c.amount is None else str(c.amount)]
        for o in report.origins
        for c in o.compensation
    ]


def format_proactive(report: ProactiveReport) -> str:
    """`recovery report proactive` as text: one column per origin, then compensation and rules."""
    if report.since is None and report.until is None:
        window = "all cases"
    else:
        since = report.since.isoformat() if report.since else "the beginning"
        until = report.until.isoformat() if report.until else "now"
        window = f"cases opened from {since} until {until}"
    lines = [f"Proactive vs reactive: {window}", ""]
    lines += _table(["", "proactive", "reactive"], comparison_rows(report), right_from=1)
    money = money_rows(report)
    lines += ["", "Compensation per currency", *_table(["ORIGIN", "CURRENCY", "COUNT", "AMOUNT"], money, right_from=2)]
    rules = [[x.rule, str(x.cases)] for x in report.origins[0].rules]
    lines += ["", "Proactive cases by rule", *_table(["RULE", "CASES"], rules, right_from=1)]
    return "\n".join(lines)

"""CSAT in the SLA report: the customers' own follow-up answers, kept apart from the scores agents
entered by hand, for the cases opened in a window.

Who answered is the follow-up event's actor in the event store: the case page records the
customer's answer with actor `customer` (starter/customer/answers.py); an agent's answer carries
the agent's id. The unit is a follow-up *asked* (`follow_up_asked`, the engine's question): a case
reopened after an unsatisfied answer is asked again. A question is answered by the customer when,
before the follow-up is recorded (the next `follow_up_done`):

* the customer's score completed it (`follow_up_done` by `customer`, its `csat`), or
* the customer sent a middle score, which goes to the owner as a customer message
  (`customer_replied` from the page's score form, "The customer scored 3: …").

The customer's last answer to a question is its score. A follow-up that ended `no_response`, or
that an agent recorded with no answer from the page, is asked and not answered. Agents' scores (`csat` on a
`follow_up_done` by anyone but `customer`) are counted on their own and never enter the customers'
figures. Severity is the case's current one; root cause is the one it closed with, `open` before.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel

from recovery.report_window import checked_window
from workflows.policy import Severity

CUSTOMER_ACTOR = "customer"
"""The actor of what the customer does from their case page (`answers.CUSTOMER.id`)."""
SCORE_EVENT_ID = "case-page-score-"
"""How the page's score form's event ids start (`answers.event_id("score", …)`)."""
SCORE_TEXT = r"^The customer scored ([1-5])"
"""A middle score's customer message (`answers.SCORE_PREFIX`), the score captured."""

_SEVERITIES = [severity.value for severity in Severity]


class CustomerFigures(BaseModel):
    asked: int
    """Follow-up questions sent (a reopened case may be asked twice)."""
    answered: int
    """Questions the customer answered from their case page."""
    response_rate_pct: float | None
    """answered / asked × 100, one decimal; None when none was asked."""
    n: int
    """Answers with a score (an erased customer's middle score has none left)."""
    mean: float | None
    """Their mean score (1–5), two decimals; None without any."""


class SeverityCsat(CustomerFigures):
    severity: str


class RootCauseCsat(CustomerFigures):
    root_cause: str
    """`open` for cases not closed yet."""


class CustomersCsat(CustomerFigures):
    by_severity: list[SeverityCsat]
    by_root_cause: list[RootCauseCsat]


class AgentScores(BaseModel):
    n: int
    """Follow-ups recorded by an agent with a score."""
    mean: float | None


class CsatReport(BaseModel):
    customers: CustomersCsat
    """What customers said themselves."""
    agent_entered: AgentScores
    """Scores agents typed in (from a reply, a call…): never part of `customers`."""


# $1 = since, $2 = until (either may be null): the cases opened in [since, until).
_SELECTED = """
WITH selected AS (
    SELECT workflow_id, severity, coalesce(root_cause, 'open') AS root_cause
    FROM cases
    WHERE ($1::timestamptz IS NULL OR opened_at >= $1)
      AND ($2::timestamptz IS NULL OR opened_at <  $2)
)
"""

CUSTOMERS_SQL = (
    _SELECTED
    + f"""
-- Each follow-up event numbered by the `follow_up_done` events before it: question k is asked after
-- the k-th done and recorded by the (k+1)-th, so one sorted pass finds every question's answers.
, flow AS MATERIALIZED (
    SELECT e.workflow_id, e.seq, e.type,
           e.actor = $4 AND (e.type = 'follow_up_done'
                             OR (e.type = 'customer_replied' AND starts_with(e.data->>'event_id', $5)))
               AS by_customer,
           CASE WHEN e.type = 'follow_up_done' AND jsonb_typeof(e.data->'csat') = 'number'
                THEN (e.data->>'csat')::int
                WHEN e.type = 'customer_replied'
                THEN substring(e.data->>'text' FROM $3)::int
           END AS score,
           count(*) FILTER (WHERE e.type = 'follow_up_done') OVER (
               PARTITION BY e.workflow_id ORDER BY e.seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
           ) AS k
    FROM events e
    JOIN selected USING (workflow_id)
    WHERE e.type IN ('follow_up_asked', 'follow_up_done', 'customer_replied')
), questions AS (  -- the engine asks once per follow-up; a second ask before the answer is the same question
    SELECT workflow_id, k, min(seq) AS asked_seq FROM flow WHERE type = 'follow_up_asked' GROUP BY workflow_id, k
), answers AS (  -- the customer's last answer to each question
    SELECT DISTINCT ON (f.workflow_id, f.k) f.workflow_id, f.k, f.score
    FROM flow f
    JOIN questions q USING (workflow_id, k)
    WHERE f.by_customer AND f.seq > q.asked_seq
    ORDER BY f.workflow_id, f.k, f.seq DESC
)
SELECT grouping(s.severity) = 0                                        AS per_severity,
       grouping(s.root_cause) = 0                                      AS per_root_cause,
       s.severity,
       s.root_cause,
       count(*)                                                        AS asked,
       count(a.k)                                                      AS answered,
       round(100.0 * count(a.k) / nullif(count(*), 0), 1)::float8      AS response_rate_pct,
       count(a.score)                                                  AS n,
       round(avg(a.score), 2)::float8                                  AS mean
FROM questions q
JOIN selected s USING (workflow_id)
LEFT JOIN answers a USING (workflow_id, k)
GROUP BY GROUPING SETS ((), (s.severity), (s.root_cause))
ORDER BY array_position(ARRAY{_SEVERITIES!r}::text[], s.severity), s.severity, s.root_cause
"""
)

AGENTS_SQL = (
    _SELECTED
    + """
SELECT count(*) AS n, round(avg((e.data->>'csat')::numeric), 2)::float8 AS mean
FROM events e
JOIN selected USING (workflow_id)
WHERE e.type = 'follow_up_done' AND e.actor <> $3 AND jsonb_typeof(e.data->'csat') = 'number'
"""
)


def _figures(row: asyncpg.Record) -> dict[str, Any]:
    return {name: row[name] for name in ("asked", "answered", "response_rate_pct", "n", "mean")}


async def fetch_csat(conn: asyncpg.Connection, since: datetime | None, until: datetime | None) -> CsatReport:
    """The CSAT section of the cases opened in [since, until), in the caller's transaction."""
    rows = await conn.fetch(CUSTOMERS_SQL, since, until, SCORE_TEXT, CUSTOMER_ACTOR, SCORE_EVENT_ID)
    agents = await conn.fetchrow(AGENTS_SQL, since, until, CUSTOMER_ACTOR)
    # The grand total: the empty grouping set gives its row even when no case was asked.
    (total,) = [r for r in rows if not r["per_severity"] and not r["per_root_cause"]]
    customers = CustomersCsat(
        **_figures(total),
        by_severity=[SeverityCsat(severity=r["severity"], **_figures(r)) for r in rows if r["per_severity"]],
        by_root_cause=[
            RootCauseCsat(root_cause=r["root_cause"], **_figures(r))
            for r in sorted((r for r in rows if r["per_root_cause"]), key=lambda r: r["root_cause"] == "open")
        ],
    )
    return CsatReport(customers=customers, agent_entered=AgentScores(**dict(agents)))


async def csat_report(
    pool: asyncpg.Pool, *, since: datetime | None = None, until: datetime | None = None
) -> CsatReport:
    """The CSAT section alone (the console's CSAT page), for the cases opened in [since, until)."""
    since, until = checked_window(since, until)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        return await fetch_csat(conn, since, until)

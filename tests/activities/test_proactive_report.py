"""Proactive versus reactive cases over a read model seeded through the projection with known
timings (the seeding helpers of test_reports). Percentiles by hand, as there: position
x = p·(n-1), v[⌊x⌋] + (x-⌊x⌋)·(v[⌊x⌋+1]-v[⌊x⌋])."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import asyncpg

from activities.store.projection import ProjectionBatch, project
from recovery.proactive_report import format_proactive, proactive_report
from tests.activities.test_causes import asked, by_customer, page_message
from tests.activities.test_reports import T0, Case, D, H, M

S = timedelta(seconds=1)


def proactive(key: str, opened_after: timedelta, severity: str, rule: str) -> Case:
    case = Case(key, T0 + opened_after, severity)
    case.events[0].data.update(source="proactive", event_id=f"proactive:{rule}:{key}", ticket_id=f"{rule}-{key}")
    return case


def cases() -> list[Case]:
    return [
        # P1: an overcharge, apologised 2 s after opening; the customer still wrote in; refunded; the
        # customer scores 5 on their case page.
        by_customer(
            asked(
                proactive("p1", timedelta(0), "critical", "overcharge")
                .ack(2 * S)
                .add(30 * M, "contact_added", contact_count=2)
                .fix(1 * H)
                .compensate(2 * H, "refund", "74.55", "USD"),
                3 * H,
            ).follow_up(1 * D, "satisfied", 5)
        ).close(1 * D + 1 * H, "carrier"),
        # P2: a late delivery, apologised after 4 s, a coupon in EUR, CSAT 4.
        proactive("p2", 1 * H, "normal", "late_delivery")
        .ack(4 * S)
        .fix(2 * H)
        .compensate(3 * H, "coupon", "10.00", "EUR")
        .follow_up(1 * D, "satisfied", 4),
        # P3: an overcharge, apologised after 6 s, nothing more yet.
        proactive("p3", 2 * H, "critical", "overcharge").ack(6 * S),
        # R1: a ticket, acknowledged after 30 min, a repeat contact, refunded; the customer sends a
        # middle 3 from the page, and the owner records satisfied with 3 (the agent's score, apart).
        page_message(
            asked(
                Case("r1", T0, "high")
                .add(10 * M, "contact_added", contact_count=2)
                .ack(30 * M)
                .fix(3 * H)
                .compensate(4 * H, "refund", "20.00", "USD"),
                5 * H,
            ),
            6 * H,
            2,
            score=3,
        ).follow_up(1 * D, "satisfied", 3),
        # R2: acknowledged after 2 h, a credit, CSAT 5.
        Case("r2", T0 + 1 * H, "normal")
        .ack(2 * H)
        .fix(5 * H)
        .compensate(6 * H, "credit", "5.00", "USD")
        .follow_up(2 * D, "satisfied", 5),
        # R3: not acknowledged yet.
        Case("r3", T0 + 3 * H, "low"),
    ]


async def seed(db: asyncpg.Pool) -> None:
    for case in cases():
        assert await project(
            db, ProjectionBatch(workflow_id=f"complaint-{case.key}", case_id=case.key, events=case.events)
        )


async def test_proactive_against_reactive(db: asyncpg.Pool) -> None:
    await seed(db)
    report = await proactive_report(db)
    p, r = report.origins
    assert (p.origin, r.origin) == ("proactive", "reactive")

    assert p.cases == 3
    # apology [2, 4, 6]: p50 4, p95 x=1.9 → 4 + 0.9·2 = 5.8
    assert p.first_apology.model_dump() == {"count": 3, "p50_seconds": 4.0, "p95_seconds": 5.8}
    assert p.repeat_contacts.model_dump() == {"cases": 3, "repeat_cases": 1, "pct": 33.3}
    assert p.csat.model_dump() == {"responses": 2, "average": 4.5}
    assert p.customer_csat.model_dump() == {"n": 1, "mean": 5.0}  # P1 on the page
    assert p.agent_csat.model_dump() == {"n": 1, "mean": 4.0}  # P2 typed by an agent
    assert [(c.currency, c.count, c.amount) for c in p.compensation] == [
        ("EUR", 1, Decimal("10.00")),
        ("USD", 1, Decimal("74.55")),
    ]
    assert [(x.rule, x.cases) for x in p.rules] == [("overcharge", 2), ("late_delivery", 1)]

    assert r.cases == 3
    # acknowledge [1800, 7200] (R3 not yet): p50 4500, p95 1800 + 0.95·5400 = 6930
    assert r.first_apology.model_dump() == {"count": 2, "p50_seconds": 4500.0, "p95_seconds": 6930.0}
    assert r.repeat_contacts.model_dump() == {"cases": 3, "repeat_cases": 1, "pct": 33.3}
    assert r.csat.model_dump() == {"responses": 2, "average": 4.0}
    assert r.customer_csat.model_dump() == {"n": 1, "mean": 3.0}  # R1's middle 3 from the page
    assert r.agent_csat.model_dump() == {"n": 2, "mean": 4.0}  # R1's 3 and R2's 5, typed by agents
    assert [(c.currency, c.count, c.amount) for c in r.compensation] == [("USD", 2, Decimal("25.00"))]
    assert r.rules == []

    data = json.loads(report.model_dump_json())
    assert data["origins"][0]["compensation"][1] == {"currency": "USD", "count": 1, "amount": "74.55"}

    text = format_proactive(report)
    lines = [line.split() for line in text.splitlines()]
    assert "Proactive vs reactive: all cases" in text
    assert ["first", "apology", "p50", "4s", "1h", "15m"] in lines
    assert ["repeat", "contacts", "1/3", "(33.3%)", "1/3", "(33.3%)"] in lines
    assert ["CSAT", "average", "4.50", "4.00"] in lines
    assert ["customers'", "own", "CSAT", "mean", "5.00", "3.00"] in lines
    assert ["agent-entered", "CSAT", "scores", "1", "2"] in lines
    assert data["origins"][1]["customer_csat"] == {"n": 1, "mean": 3.0}
    assert ["proactive", "USD", "1", "74.55"] in lines and ["reactive", "USD", "2", "25.00"] in lines
    assert ["overcharge", "2"] in lines


async def test_a_window_and_an_empty_side(db: asyncpg.Pool) -> None:
    await seed(db)
    # [T0+1h, T0+3h): P2, P3 and R2 (R3, opened at until, is out).
    report = await proactive_report(db, since=T0 + 1 * H, until=T0 + 3 * H)
    p, r = report.origins
    assert (p.cases, r.cases) == (2, 1)
    assert p.first_apology.model_dump() == {"count": 2, "p50_seconds": 5.0, "p95_seconds": 5.9}
    assert p.repeat_contacts.pct == 0.0 and p.csat.model_dump() == {"responses": 1, "average": 4.0}
    assert [(x.rule, x.cases) for x in p.rules] == [("late_delivery", 1), ("overcharge", 1)]
    assert [(c.currency, c.amount) for c in r.compensation] == [("USD", Decimal("5.00"))]

    none = await proactive_report(db, since=T0 + 20 * D)
    assert [o.cases for o in none.origins] == [0, 0]
    assert none.origins[0].first_apology.p50_seconds is None and none.origins[0].csat.average is None
    assert none.origins[0].customer_csat.model_dump() == {"n": 0, "mean": None}
    assert none.origins[0].repeat_contacts.pct is None
    assert "(none)" in format_proactive(none)

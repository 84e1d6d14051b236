"""The SLA report over a read model seeded through the projection with known timings.

Expected percentiles are worked out by hand with percentile_cont's linear interpolation: for
sorted values v[0..n-1] and fraction p, position x = p·(n-1),
result v[⌊x⌋] + (x-⌊x⌋)·(v[⌊x⌋+1]-v[⌊x⌋]).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from activities.store.projection import ProjectionBatch, project
from recovery.report_text import format_duration, format_report
from recovery.reports import SlaReport, sla_report
from workflows.models import DomainEvent

T0 = datetime(2024, 3, 1, tzinfo=UTC)
M, H, D = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


class Case:
    """Domain events of one case, at offsets from its opening."""

    def __init__(self, key: str, opened_at: datetime, severity: str):
        self.key, self.opened_at = key, opened_at
        self.events: list[DomainEvent] = []
        self.add(timedelta(0), "opened", severity=severity, customer_id=f"cust-{key}", source="email", anomalies=[])

    def add(self, after: timedelta, type_: str, **data: Any) -> Case:
        self.events.append(
            DomainEvent(seq=len(self.events) + 1, type=type_, at=self.opened_at + after, actor="agent", data=data)
        )
        return self

    def ack(self, after: timedelta) -> Case:
        return self.add(after, "acknowledged", message="sorry")

    def fix(self, after: timedelta) -> Case:
        return self.add(after, "fix_recorded", description="fixed")

    def compensate(self, after: timedelta, kind: str, value: str | None = None, currency: str | None = None) -> Case:
        return self.add(
            after,
            "compensation_issued",
            kind=kind,
            value=value,
            currency=currency,
            amount=f"{value} {currency}" if value else None,
            reference="ref",
        )

    def follow_up(self, after: timedelta, outcome: str, csat: int | None = None) -> Case:
        return self.add(after, "follow_up_done", outcome=outcome, csat=csat, note="")

    def close(self, after: timedelta, root_cause: str) -> Case:
        return self.add(after, "closed", root_cause=root_cause, note="done")

    def escalate(self, after: timedelta, step: str, level: int, reason: str) -> Case:
        role = ["team-lead", "manager", "executive"][level - 1]
        return self.add(after, "escalated", step=step, level=level, role=role, reason=reason)


def cases() -> list[Case]:
    return [
        # A: critical, every step on time.
        Case("a", T0, "critical")
        .ack(10 * M)
        .fix(2 * H)
        .compensate(3 * H, "refund", "50.00", "USD")
        .follow_up(1 * D, "satisfied", 5)
        .close(1 * D + 1 * H, "carrier"),
        # B: critical, acknowledge deadline missed (breach), then on time.
        Case("b", T0 + 1 * H, "critical")
        .escalate(20 * M, "acknowledge", 1, "deadline missed")
        .ack(30 * M)
        .fix(5 * H)
        .compensate(6 * H, "credit", "20.00", "EUR")
        .follow_up(2 * D, "satisfied", 4)
        .close(2 * D + 2 * H, "carrier"),
        # C: high, a repeat contact; unsatisfied at follow-up, reopened at fix, second round, closed.
        Case("c", T0 + 2 * H, "high")
        .add(30 * M, "contact_added", contact_count=2)
        .ack(1 * H)
        .fix(3 * H)
        .compensate(4 * H, "refund", "30.00", "USD")
        .follow_up(1 * D, "unsatisfied", 2)
        .add(1 * D, "reopened", step="fix", reason="customer unsatisfied")
        .fix(1 * D + 2 * H)
        .compensate(1 * D + 3 * H, "coupon", "10.00", "USD")
        .follow_up(1 * D + 20 * H, "satisfied", 4)
        .close(2 * D, "warehouse"),
        # D: normal, a repeat contact, acknowledge breached and escalated twice, still open at follow-up.
        Case("d", T0 + 3 * H, "normal")
        .add(30 * M, "contact_added", contact_count=2)
        .add(1 * H, "paused", reason="waiting on the customer")
        .add(2 * H, "resumed", note="")
        .escalate(4 * H, "acknowledge", 1, "deadline missed")
        .escalate(8 * H, "acknowledge", 2, "step still open")
        .ack(9 * H)
        .fix(1 * D)
        .compensate(1 * D + 2 * H, "credit", "5.00", "USD"),
        # E: low, an upgrade (no money), age ceiling escalation at follow-up, closed.
        Case("e", T0 + 4 * H, "low")
        .ack(2 * H)
        .fix(1 * D)
        .compensate(1 * D + 1 * H, "upgrade")
        .escalate(2 * D, "follow_up", 3, "age ceiling reached")
        .follow_up(3 * D, "no_response")
        .close(3 * D + 1 * H, "product-defect"),
        # F: normal, opened ten days later, acknowledged, open at fix.
        Case("f", T0 + 10 * D, "normal").ack(15 * M),
        # G: critical, open at compensate whose deadline was missed (a breach on an open step).
        Case("g", T0 + 5 * H, "critical")
        .add(10 * M, "warning", step="acknowledge")
        .ack(40 * M)
        .fix(4 * H)
        .escalate(10 * H, "compensate", 1, "deadline missed"),
    ]


async def seed(db: asyncpg.Pool) -> None:
    for case in cases():
        assert await project(
            db, ProjectionBatch(workflow_id=f"complaint-{case.key}", case_id=case.key, events=case.events)
        )


def steps(report: SlaReport) -> dict[tuple[str, str], tuple[int, int, int, float | None]]:
    return {(s.severity, s.step): (s.cases, s.completed, s.breaches, s.attainment_pct) for s in report.steps}


def times(report: SlaReport, severity: str) -> dict[str, tuple[int, float | None, float | None]]:
    row = next(t for t in report.times if t.severity == severity)
    return {
        name: (p.count, p.p50_seconds, p.p95_seconds)
        for name, p in (("acknowledge", row.acknowledge), ("fix", row.fix), ("close", row.close))
    }


async def test_report_of_all_cases(db: asyncpg.Pool) -> None:
    await seed(db)
    report = await sla_report(db)

    assert report.totals.model_dump() == {"cases": 7, "open": 3, "closed": 4, "breaches": 3}

    assert list(steps(report)) == [
        ("critical", "acknowledge"),
        ("critical", "fix"),
        ("critical", "compensate"),
        ("critical", "follow_up"),
        ("critical", "close"),
        ("high", "acknowledge"),
        ("high", "fix"),
        ("high", "compensate"),
        ("high", "follow_up"),
        ("high", "close"),
        ("normal", "acknowledge"),
        ("normal", "fix"),
        ("normal", "compensate"),
        ("normal", "follow_up"),
        ("low", "acknowledge"),
        ("low", "fix"),
        ("low", "compensate"),
        ("low", "follow_up"),
        ("low", "close"),
    ]
    assert steps(report) == {
        # cases, completed, breaches, attainment
        ("critical", "acknowledge"): (3, 3, 1, 66.7),  # B breached: 2 of 3 on time
        ("critical", "fix"): (3, 3, 0, 100.0),
        ("critical", "compensate"): (3, 2, 1, 100.0),  # G's breach is on an open step: not in attainment
        ("critical", "follow_up"): (2, 2, 0, 100.0),
        ("critical", "close"): (2, 2, 0, 100.0),
        ("high", "acknowledge"): (1, 1, 0, 100.0),
        ("high", "fix"): (1, 2, 0, 100.0),  # C reopened: two rounds, one case
        ("high", "compensate"): (1, 2, 0, 100.0),
        ("high", "follow_up"): (1, 2, 0, 100.0),  # the unsatisfied follow-up completed round 1
        ("high", "close"): (1, 1, 0, 100.0),
        ("normal", "acknowledge"): (2, 2, 1, 50.0),  # D breached, F on time
        ("normal", "fix"): (2, 1, 0, 100.0),
        ("normal", "compensate"): (1, 1, 0, 100.0),
        ("normal", "follow_up"): (1, 0, 0, None),  # nothing completed: no attainment
        ("low", "acknowledge"): (1, 1, 0, 100.0),
        ("low", "fix"): (1, 1, 0, 100.0),
        ("low", "compensate"): (1, 1, 0, 100.0),
        ("low", "follow_up"): (1, 1, 0, 100.0),
        ("low", "close"): (1, 1, 0, 100.0),
    }

    assert [t.severity for t in report.times] == ["critical", "high", "normal", "low"]
    assert [t.cases for t in report.times] == [3, 1, 2, 1]
    # critical: ack [600, 1800, 2400]: p50 1800, p95 x=1.9 → 1800 + 0.9·600 = 2340
    #           fix [7200, 14400, 18000]: p50 14400, p95 14400 + 0.9·3600 = 17640
    #           close [90000, 180000]: p50 135000, p95 x=0.95 → 90000 + 0.95·90000 = 175500
    assert times(report, "critical") == {
        "acknowledge": (3, 1800.0, 2340.0),
        "fix": (3, 14400.0, 17640.0),
        "close": (2, 135000.0, 175500.0),
    }
    # high: C alone; fix is the first fix (round 1)
    assert times(report, "high") == {
        "acknowledge": (1, 3600.0, 3600.0),
        "fix": (1, 10800.0, 10800.0),
        "close": (1, 172800.0, 172800.0),
    }
    # normal: ack [900, 32400]: p50 16650, p95 900 + 0.95·31500 = 30825; nobody closed
    assert times(report, "normal") == {
        "acknowledge": (2, 16650.0, 30825.0),
        "fix": (1, 86400.0, 86400.0),
        "close": (0, None, None),
    }
    assert times(report, "low") == {
        "acknowledge": (1, 7200.0, 7200.0),
        "fix": (1, 86400.0, 86400.0),
        "close": (1, 262800.0, 262800.0),
    }

    assert [(e.level, e.count) for e in report.escalations] == [(1, 3), (2, 1), (3, 1)]

    assert report.repeat_contacts.model_dump() == {"cases": 7, "repeat_cases": 2, "pct": 28.6}

    assert [(c.kind, c.currency, c.count, c.amount) for c in report.compensation_by_kind] == [
        ("coupon", "USD", 1, Decimal("10.00")),
        ("credit", "EUR", 1, Decimal("20.00")),
        ("credit", "USD", 1, Decimal("5.00")),
        ("refund", "USD", 2, Decimal("80.00")),
        ("upgrade", None, 1, None),
    ]
    assert [(c.root_cause, c.currency, c.count, c.amount) for c in report.compensation_by_root_cause] == [
        ("carrier", "EUR", 1, Decimal("20.00")),
        ("carrier", "USD", 1, Decimal("50.00")),
        ("product-defect", None, 1, None),
        ("warehouse", "USD", 2, Decimal("40.00")),
        ("open", "USD", 1, Decimal("5.00")),
    ]

    assert [(r.root_cause, r.cases) for r in report.top_root_causes] == [
        ("carrier", 2),
        ("product-defect", 1),
        ("warehouse", 1),
    ]
    top2 = await sla_report(db, top=2)
    assert [(r.root_cause, r.cases) for r in top2.top_root_causes] == [("carrier", 2), ("product-defect", 1)]

    # JSON-friendly: decimals as strings, durations as float seconds.
    data = json.loads(report.model_dump_json())
    assert data["compensation_by_kind"][3] == {"kind": "refund", "currency": "USD", "count": 2, "amount": "80.00"}
    assert data["compensation_by_kind"][4]["amount"] is None
    assert data["times"][0]["close"] == {"count": 2, "p50_seconds": 135000.0, "p95_seconds": 175500.0}
    assert data["since"] is None and data["until"] is None


async def test_window_selects_cases_by_opening(db: asyncpg.Pool) -> None:
    await seed(db)
    # [T0+1h, T0+4h): B (opened exactly at since) in, E (opened exactly at until) out → B, C, D.
    report = await sla_report(db, since=T0 + 1 * H, until=T0 + 4 * H)

    assert report.totals.model_dump() == {"cases": 3, "open": 1, "closed": 2, "breaches": 2}
    assert steps(report)[("critical", "acknowledge")] == (1, 1, 1, 0.0)
    assert steps(report)[("normal", "acknowledge")] == (1, 1, 1, 0.0)
    assert steps(report)[("high", "fix")] == (1, 2, 0, 100.0)
    assert {s for s, _ in steps(report)} == {"critical", "high", "normal"}
    assert times(report, "critical") == {
        "acknowledge": (1, 1800.0, 1800.0),
        "fix": (1, 18000.0, 18000.0),
        "close": (1, 180000.0, 180000.0),
    }
    assert [(e.level, e.count) for e in report.escalations] == [(1, 2), (2, 1)]
    assert report.repeat_contacts.model_dump() == {"cases": 3, "repeat_cases": 2, "pct": 66.7}
    assert [(c.kind, c.currency, c.count, c.amount) for c in report.compensation_by_kind] == [
        ("coupon", "USD", 1, Decimal("10.00")),
        ("credit", "EUR", 1, Decimal("20.00")),
        ("credit", "USD", 1, Decimal("5.00")),
        ("refund", "USD", 1, Decimal("30.00")),
    ]
    assert [(c.root_cause, c.currency, c.amount) for c in report.compensation_by_root_cause] == [
        ("carrier", "EUR", Decimal("20.00")),
        ("warehouse", "USD", Decimal("40.00")),
        ("open", "USD", Decimal("5.00")),
    ]
    assert [(r.root_cause, r.cases) for r in report.top_root_causes] == [("carrier", 1), ("warehouse", 1)]

    # One bound at a time; a naive bound is UTC.
    later = await sla_report(db, since=T0 + 5 * H)
    assert later.totals.cases == 2  # G and F
    assert [t.severity for t in later.times] == ["critical", "normal"]
    earlier = await sla_report(db, until=datetime(2024, 3, 1, 1, 0))
    assert earlier.totals.cases == 1  # A
    assert earlier.until == T0 + 1 * H


async def test_format_report_renders_every_section(db: asyncpg.Pool) -> None:
    await seed(db)
    text = format_report(await sla_report(db, top=2))
    lines = text.splitlines()
    for title in [
        "Totals",
        "Step attainment",
        "Time from opening (p50 / p95)",
        "Escalations by level",
        "Compensation by kind",
        "Compensation by root cause",
        "Top root causes",
    ]:
        assert title in lines
    assert "SLA report: all cases" in text
    assert "2/7 (28.6%)" in text
    row = next(line.split() for line in lines if line.split()[:2] == ["critical", "acknowledge"])
    assert row == ["critical", "acknowledge", "3", "3", "1", "66.7%"]
    row = next(line.split() for line in lines if line.split()[:2] == ["normal", "follow_up"])
    assert row[-1] == "-"
    # critical: ack 30m 00s / 39m 00s, fix 4h 00m / 4h 54m, close 1d 13h / 2d 0h
    row = next(line for line in lines if line.split()[:2] == ["critical", "3"])
    assert row.split() == [
        "critical",
        "3",
        "30m",
        "00s",
        "39m",
        "00s",
        "4h",
        "00m",
        "4h",
        "54m",
        "1d",
        "13h",
        "2d",
        "0h",
    ]
    # normal: ack 4h 37m / 8h 33m, fix 1d 0h, nobody closed
    row = next(line for line in lines if line.split()[:2] == ["normal", "2"])
    assert row.split() == ["normal", "2", "4h", "37m", "8h", "33m", "1d", "0h", "1d", "0h", "-", "-"]
    assert any(line.split() == ["refund", "USD", "2", "80.00"] for line in lines)
    assert any(line.split() == ["upgrade", "-", "1", "-"] for line in lines)
    assert any(line.split() == ["open", "USD", "1", "5.00"] for line in lines)
    assert any(line.split() == ["3", "1"] for line in lines)  # level 3 escalations
    top = lines[lines.index("Top root causes") + 3 :][:2]
    assert lines[lines.index("Top root causes") + 5] == ""  # then the CSAT section (tests/activities/test_csat.py)
    assert [line.split() for line in top] == [["carrier", "2"], ["product-defect", "1"]]


def test_format_duration() -> None:
    assert format_duration(None) == "-"
    assert format_duration(42) == "42s"
    assert format_duration(725) == "12m 05s"
    assert format_duration(3900) == "1h 05m"
    assert format_duration(2 * 86400 + 3 * 3600 + 59 * 60) == "2d 3h"


async def test_empty_database(db: asyncpg.Pool) -> None:
    report = await sla_report(db)
    assert report.totals.model_dump() == {"cases": 0, "open": 0, "closed": 0, "breaches": 0}
    assert report.steps == [] and report.times == [] and report.escalations == []
    assert report.repeat_contacts.model_dump() == {"cases": 0, "repeat_cases": 0, "pct": None}
    assert report.compensation_by_kind == [] and report.compensation_by_root_cause == []
    assert report.top_root_causes == []
    text = format_report(report)
    assert "0/0 (-)" in text
    assert text.count("(none)") == 8  # six sections, and CSAT by severity and by root cause

"""The causes report over a read model seeded through the projection (`project`) with known timings:
three causes closed over eight weeks (a reopening, pauses, breaches, CSAT answers, money in USD and
EUR), a fourth only in the period before, and cases at the window's edges. Follow-up scores come
from the customers' case page (a score, a middle score sent as a customer message, a reply-box
message that is not an answer) and from agents, counted apart.

The window is S = Monday 2024-03-04 00:00 UTC to S + 8 weeks; the previous period is the 8 weeks
before S. Expected figures are worked out by hand next to each case; a median of two values is their
mean (percentile_cont).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

import activities.store
from activities.store.projection import ProjectionBatch, project
from recovery.causes import CAUSES_SQL, causes_report, window
from recovery.report_text import format_causes
from starter.customer import answers
from tests.activities.test_reports import Case, D, H, M

S = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
W = timedelta(weeks=1)
UNTIL = S + 8 * W


def simple(key: str, closed_at: datetime, cause: str) -> Case:
    """A case closed at `closed_at` 25 h after opening, no money, no score."""
    return (
        Case(key, closed_at - 25 * H, "normal")
        .ack(1 * H)
        .fix(2 * H)
        .compensate(3 * H, "upgrade")
        .follow_up(1 * D, "satisfied")
        .close(1 * D + 1 * H, cause)
    )


def asked(case: Case, after: timedelta) -> Case:
    return case.add(after, "follow_up_asked")


def by_customer(case: Case) -> Case:
    """The last event was the customer's, from their case page."""
    case.events[-1].actor = answers.CUSTOMER.id
    return case


def page_message(case: Case, after: timedelta, contact_count: int, score: int | None = None) -> Case:
    """A middle score from the page (a customer message for the owner, answers.score_step), or with no
    score a message from the reply box; `contact_count` unchanged, so repeat contacts stay as they were."""
    eid = answers.event_id("score" if score else "reply", uuid.uuid4(), f"nonce-{len(case.events):012d}")
    if score:
        _, _, inp = answers.score_step(score, "so-so", answers.Thresholds(), eid)
    else:
        _, inp = answers.message_step("The customer scored 5", eid)
    case.add(after, "customer_replied", **inp.model_dump(), counted=False, contact_count=contact_count)
    return by_customer(case)


def cases() -> list[Case]:
    return [
        # carrier ×3 in the window ------------------------------------------------------------
        # c1: handling 25 h = 90000; agent steps ack 600 + fix 6600 + compensate 3600 + close 3600 = 14400.
        # The customer scores 5 on the page: customers' [5].
        by_customer(
            asked(Case("c1", S + 1 * H, "critical").ack(10 * M).fix(2 * H), 3 * H)
            .compensate(3 * H, "refund", "50.00", "USD")
            .follow_up(1 * D, "satisfied", 5)
        ).close(1 * D + 1 * H, "carrier"),
        # c2: one repeat contact, the acknowledge deadline missed; handling 50 h = 180000;
        # agent steps 2400 + 8400 + 3600 + 7200 = 21600.
        Case("c2", S + 7 * D, "high")
        .add(20 * M, "deadline_missed", step="acknowledge")
        .add(30 * M, "contact_added", contact_count=2)
        .ack(40 * M)
        .fix(3 * H)
        .compensate(4 * H, "credit", "20.00", "EUR")
        .follow_up(2 * D, "satisfied", 4)
        .close(2 * D + 2 * H, "carrier"),
        # c3: two repeat contacts, unsatisfied (2) → reopened → satisfied (4); paused 2 h inside the
        # second fix. Handling 49 h = 176400; agent steps round 1: 3600 + 3600 + 3600, round 2: fix
        # 14400 − 7200 paused + compensate 3600 + close 3600 → 25200.
        # The customer scores 2 on the page (reopened), then, asked again, sends a middle 3; the owner
        # records satisfied with 4: customers' [2, 3], agents' [4].
        page_message(
            asked(
                by_customer(
                    asked(
                        Case("c3", S + 21 * D, "normal")
                        .add(20 * M, "contact_added", contact_count=2)
                        .ack(1 * H)
                        .fix(2 * H)
                        .compensate(3 * H, "refund", "30.00", "USD"),
                        3 * H,
                    ).follow_up(1 * D, "unsatisfied", 2)
                )
                .add(1 * D, "reopened", step="fix", reason="customer unsatisfied")
                .add(1 * D + 30 * M, "contact_added", contact_count=3)
                .add(1 * D + 1 * H, "paused", reason="waiting on the customer")
                .add(1 * D + 3 * H, "resumed", note="", paused_seconds=7200.0)
                .fix(1 * D + 4 * H)
                .compensate(1 * D + 5 * H, "coupon", "10.00", "USD"),
                1 * D + 5 * H,
            ),
            1 * D + 6 * H,
            3,
            score=3,
        )
        .follow_up(2 * D, "satisfied", 4)
        .close(2 * D + 1 * H, "carrier"),
        # warehouse ×2 ------------------------------------------------------------------------
        # w1: fix and compensate deadlines missed; no answer. Handling 176400; agent 1800 + 16200 + 3600 + 3600 = 25200.
        Case("w1", S + 20 * D, "normal")
        .ack(30 * M)
        .add(4 * H, "deadline_missed", step="fix")
        .fix(5 * H)
        .add(5 * H + 30 * M, "deadline_missed", step="compensate")
        .compensate(6 * H, "upgrade")
        .follow_up(2 * D, "no_response")
        .close(2 * D + 1 * H, "warehouse"),
        # w2: handling 24.5 h = 88200; agent 300 + 3300 + 3600 + 1800 = 9000. Asked; the reply box says
        # "The customer scored 5" (a message, not an answer); an agent records 3: agents' [3].
        page_message(
            asked(
                Case("w2", S + 40 * D, "low").ack(5 * M).fix(1 * H).compensate(2 * H, "refund", "15.50", "EUR"), 2 * H
            ),
            3 * H,
            1,
        )
        .follow_up(1 * D, "satisfied", 3)
        .close(1 * D + 30 * M, "warehouse"),
        # product-defect ×2 -------------------------------------------------------------------
        # x1: opened before the window, closed exactly at since (in). Handling 259200; agent 14400.
        Case("x1", S - 3 * D, "normal")
        .ack(1 * H)
        .fix(2 * H)
        .compensate(3 * H, "upgrade")
        .follow_up(2 * D + 23 * H, "satisfied")
        .close(3 * D, "product-defect"),
        # p1: handling 176400; agent 3600 + 82800 + 3600 + 3600 = 93600. A middle 3 on the page, then
        # the customer's 5 completes it: the last answer counts, customers' [5].
        by_customer(
            page_message(
                asked(
                    Case("p1", S + 50 * D, "high")
                    .ack(1 * H)
                    .fix(1 * D)
                    .compensate(1 * D + 1 * H, "refund", "12.00", "USD"),
                    1 * D + 1 * H,
                ),
                1 * D + 2 * H,
                1,
                score=3,
            ).follow_up(2 * D, "satisfied", 5)
        ).close(2 * D + 1 * H, "product-defect"),
        # outside the window ------------------------------------------------------------------
        Case("open", S + 2 * D, "normal").ack(1 * H).fix(2 * H),  # not closed
        simple("y1", UNTIL, "carrier"),  # closed exactly at until: out
        # the previous period [S − 8 weeks, S): carrier 1, warehouse 2, billing 2
        simple("pv1", S - 10 * D, "carrier"),
        simple("pv2", S - 20 * D, "billing"),
        simple("pv3", S - 30 * D, "billing"),
        simple("pv4", S - 35 * D, "warehouse"),
        simple("pv5", S - 8 * W, "warehouse"),  # exactly at the previous period's start: in
        simple("pv6", S - 8 * W - 1 * H, "carrier"),  # before it: out
    ]


async def seed(db: asyncpg.Pool) -> None:
    for case in cases():
        assert await project(
            db, ProjectionBatch(workflow_id=f"complaint-{case.key}", case_id=case.key, events=case.events)
        )


def by_cause(report: object) -> dict[str, dict[str, object]]:
    data = json.loads(report.model_dump_json())  # type: ignore[attr-defined]
    for row in data["causes"]:
        assert row.pop("prevention") == {"open": [], "done": []}  # no actions here: test_prevention_effect.py
    return {row["cause"]: row for row in data["causes"]}


EXPECTED = {
    "carrier": {
        "cause": "carrier",
        "cases": 3,
        "share": 0.429,  # 3 / 7
        "repeat_contacts_per_case": 1.0,  # (0 + 1 + 2) / 3
        "reopen_rate": 0.333,
        "compensation": {"EUR": "20.00", "USD": "90.00"},
        "median_handling_s": 176400.0,  # [90000, 176400, 180000]
        "median_agent_step_s": 21600.0,  # [14400, 21600, 25200]
        "csat": {"n": 5, "mean": 3.6},  # every score: c1 5, c2 4, c3 2 3 4 → 18 / 5
        "customer_csat": {"n": 3, "mean": 3.33},  # c1 5, c3 2 and 3 → 10 / 3
        "agent_csat": {"n": 2, "mean": 4.0},  # c2 4, c3 4
        "breaches": 1,
        "trend": {"previous_cases": 1, "change": 2},
    },
    "warehouse": {
        "cause": "warehouse",
        "cases": 2,
        "share": 0.286,
        "repeat_contacts_per_case": 0.0,
        "reopen_rate": 0.0,
        "compensation": {"EUR": "15.50"},  # the upgrade has no money
        "median_handling_s": 132300.0,  # (176400 + 88200) / 2
        "median_agent_step_s": 17100.0,  # (25200 + 9000) / 2
        "csat": {"n": 1, "mean": 3.0},  # no_response has no score
        "customer_csat": {"n": 0, "mean": None},  # w2's reply-box message is not an answer
        "agent_csat": {"n": 1, "mean": 3.0},
        "breaches": 2,
        "trend": {"previous_cases": 2, "change": 0},
    },
    "product-defect": {
        "cause": "product-defect",
        "cases": 2,
        "share": 0.286,
        "repeat_contacts_per_case": 0.0,
        "reopen_rate": 0.0,
        "compensation": {"USD": "12.00"},
        "median_handling_s": 217800.0,  # (259200 + 176400) / 2
        "median_agent_step_s": 54000.0,  # (14400 + 93600) / 2
        "csat": {"n": 1, "mean": 5.0},
        "customer_csat": {"n": 1, "mean": 5.0},  # p1: its middle 3 was followed by the 5
        "agent_csat": {"n": 0, "mean": None},
        "breaches": 0,
        "trend": {"previous_cases": 0, "change": 2},
    },
    "billing": {  # only in the previous period
        "cause": "billing",
        "cases": 0,
        "share": 0.0,
        "repeat_contacts_per_case": None,
        "reopen_rate": None,
        "compensation": {},
        "median_handling_s": None,
        "median_agent_step_s": None,
        "csat": {"n": 0, "mean": None},
        "customer_csat": {"n": 0, "mean": None},
        "agent_csat": {"n": 0, "mean": None},
        "breaches": 0,
        "trend": {"previous_cases": 2, "change": -2},
    },
}


async def test_causes_over_eight_weeks(db: asyncpg.Pool) -> None:
    await seed(db)
    report = await causes_report(db, since=S, until=UNTIL)
    assert [c.cause for c in report.causes] == ["carrier", "warehouse", "product-defect", "billing"]
    assert by_cause(report) == EXPECTED
    assert report.causes[0].compensation == {"EUR": Decimal("20.00"), "USD": Decimal("90.00")}

    # Weekly closes: every week × every cause of the series, oldest first (billing closed before it).
    assert [w.week_start for w in report.weeks[::3]] == [(S + n * W).date() for n in range(8)]
    counts = {(w.week_start, w.cause): w.cases for w in report.weeks if w.cases}
    assert counts == {
        (date(2024, 3, 4), "carrier"): 1,  # c1
        (date(2024, 3, 4), "product-defect"): 1,  # x1, at since
        (date(2024, 3, 11), "carrier"): 1,  # c2
        (date(2024, 3, 25), "carrier"): 1,  # c3
        (date(2024, 3, 25), "warehouse"): 1,  # w1
        (date(2024, 4, 8), "warehouse"): 1,  # w2
        (date(2024, 4, 22), "product-defect"): 1,  # p1
    }
    assert len(report.weeks) == 24 and {w.cause for w in report.weeks} == {"carrier", "product-defect", "warehouse"}

    data = json.loads(report.model_dump_json())
    assert set(data) == {"since", "until", "causes", "weeks", "effect_weeks"}
    assert data["weeks"][0] == {"week_start": "2024-03-04", "cause": "carrier", "cases": 1}
    assert data["since"] == "2024-03-04T00:00:00Z" and data["until"] == "2024-04-29T00:00:00Z"


async def test_weeks_reach_before_the_window_and_default_the_window(db: asyncpg.Pool) -> None:
    await seed(db)
    longer = await causes_report(db, since=S, until=UNTIL, weeks=10)
    assert by_cause(longer) == EXPECTED  # the weeks change only the series
    assert longer.weeks[0].week_start == date(2024, 2, 19) and len(longer.weeks) == 30
    assert [(w.week_start, w.cause) for w in longer.weeks if w.cases and w.week_start < S.date()] == [
        (date(2024, 2, 19), "carrier")  # pv1, 10 days before since
    ]

    # No since: the last `weeks` weeks before until (here 4), against the 4 before those.
    last4 = await causes_report(db, until=UNTIL, weeks=4)
    assert last4.since == S + 4 * W and len({w.week_start for w in last4.weeks}) == 4
    assert [(c.cause, c.cases, c.trend.previous_cases, c.trend.change) for c in last4.causes] == [
        ("product-defect", 1, 1, 0),  # p1 now, x1 before
        ("warehouse", 1, 1, 0),  # w2 now, w1 before
        ("carrier", 0, 3, -3),
    ]
    assert [c.share for c in last4.causes] == [0.5, 0.5, 0.0]

    # No bounds at all: 8 weeks up to now.
    default = await causes_report(db, now=UNTIL)
    assert (default.since, default.until) == (S, UNTIL) and by_cause(default) == EXPECTED


def test_window_bounds() -> None:
    assert window(S, UNTIL, None) == (S, UNTIL, 8)
    assert window(S, S + 8 * W + 1 * H, None)[2] == 9  # a part week counts
    assert window(S, S, None) == (S, S, 1)
    assert window(datetime(2024, 3, 4), None, None, now=UNTIL) == (S, UNTIL, 8)  # naive is UTC
    for since, until, weeks in [
        (UNTIL, S, None),
        (S, UNTIL, 0),
        (S, UNTIL, 521),
        (datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC), None),  # no period before
        (datetime(1, 3, 1, tzinfo=UTC), datetime(1, 3, 2, tzinfo=UTC), 520),  # weeks before year 1
        (
            datetime(1, 1, 1, 0, 0, tzinfo=UTC),
            datetime(1, 1, 1, 0, 0, tzinfo=UTC),
            None,
        ),  # its last week begins before year 1
    ]:
        with pytest.raises(ValueError):
            window(since, until, weeks)


async def test_format_causes(db: asyncpg.Pool) -> None:
    await seed(db)
    text = format_causes(await causes_report(db, since=S, until=UNTIL))
    lines = text.splitlines()
    assert lines[0] == "Causes report: cases closed from 2024-03-04T00:00:00+00:00 until 2024-04-29T00:00:00+00:00"
    row = next(line.split() for line in lines if line.split()[:1] == ["carrier"])
    # cause, cases, share, before, change, repeat, reopened, handling 2d 1h, agent 6h 00m, csat (all,
    # customers', agents': n and mean), breaches, money
    assert row == [
        "carrier",
        "3",
        "42.9%",
        "1",
        "+2",
        "1.0",
        "33.3%",
        "2d",
        "1h",
        "6h",
        "00m",
        "5",
        "3.60",
        "3",
        "3.33",
        "2",
        "4.00",
        "1",
        "20.00",
        "EUR,",
        "90.00",
        "USD",
    ]
    row = next(line.split() for line in lines if line.split()[:1] == ["billing"])
    assert row == ["billing", "0", "0.0%", "2", "-2", "-", "-", "-", "-", "0", "-", "0", "-", "0", "-", "0", "-"]
    header = next(line for line in lines if line.strip().startswith("root cause"))
    assert "csat n" in header and "customers' n" in header and "agents' mean" in header
    row = next(line.split() for line in lines if line.split()[:1] == ["warehouse"])
    assert row[11:17] == ["1", "3.00", "0", "-", "1", "3.00"]  # the reply-box message is no answer
    weekly = lines[lines.index("Cases closed per week (weeks from Monday, UTC)") + 1 :]
    assert weekly[0].split() == ["week", "carrier", "product-defect", "warehouse"]
    assert weekly[2].split() == ["2024-03-04", "1", "1", "0"]
    assert len(weekly) == 2 + 8


async def test_empty_database(db: asyncpg.Pool) -> None:
    report = await causes_report(db, since=S, until=UNTIL)
    assert report.causes == [] and report.weeks == []
    assert format_causes(report).count("(none)") == 2


FIGURES = {  # per case, by hand (see cases()): reopenings, scores and their sum (all, customers', agents'),
    # agent-step seconds
    "c1": (0, 1, Decimal(5), 1, Decimal(5), 0, None, 14400.0),
    "c2": (0, 1, Decimal(4), 0, None, 1, Decimal(4), 21600.0),
    "c3": (1, 3, Decimal(9), 2, Decimal(5), 1, Decimal(4), 25200.0),
    "w1": (0, 0, None, 0, None, 0, None, 25200.0),
    "w2": (0, 1, Decimal(3), 0, None, 1, Decimal(3), 9000.0),
    "x1": (0, 0, None, 0, None, 0, None, 14400.0),
    "p1": (0, 1, Decimal(5), 1, Decimal(5), 0, None, 93600.0),
    "open": (0, 0, None, 0, None, 0, None, None),  # not closed: no agent-step time yet
}
FIGURE_COLUMNS = (
    "reopen_count, csat_answers, csat_total, customer_csat_answers, customer_csat_total, "
    "agent_csat_answers, agent_csat_total, agent_step_s"
)


async def stored_figures(db: asyncpg.Pool) -> dict[str, tuple[object, ...]]:
    rows = await db.fetch(f"SELECT case_id, {FIGURE_COLUMNS} FROM cases")
    return {r["case_id"]: tuple(r)[1:] for r in rows}


async def stored_money(db: asyncpg.Pool) -> set[tuple[object, ...]]:
    rows = await db.fetch(
        "SELECT workflow_id, seq, amount, currency, case_closed_at, case_root_cause FROM case_compensations"
    )
    return {tuple(r) for r in rows}


async def test_the_projection_writes_each_cases_figures(db: asyncpg.Pool) -> None:
    await seed(db)
    figures = await stored_figures(db)
    assert {key: figures[key] for key in FIGURES} == FIGURES
    money = {(wid, seq): (closed_at, cause) for wid, seq, _, _, closed_at, cause in await stored_money(db)}
    assert money[("complaint-c3", 13)] == (S + 23 * D + 1 * H, "carrier")  # the second compensation of c3
    differ = "cc.case_closed_at IS DISTINCT FROM c.closed_at OR cc.case_root_cause IS DISTINCT FROM c.root_cause"
    assert (
        await db.fetchval(f"SELECT count(*) FROM case_compensations cc JOIN cases c USING (workflow_id) WHERE {differ}")
        == 0
    )


MIGRATIONS = Path(activities.store.__file__).parent / "migrations"
DROP_020 = (
    "ALTER TABLE cases DROP COLUMN customer_csat_answers, DROP COLUMN customer_csat_total, "
    "DROP COLUMN agent_csat_answers, DROP COLUMN agent_csat_total"
)


async def test_migrations_017_and_020_compute_the_same_figures_for_stored_cases(db: asyncpg.Pool) -> None:
    """Cases projected before migration 017 get, from their events and steps, what the projection writes."""
    await seed(db)
    projected, money = await stored_figures(db), await stored_money(db)
    await db.execute(
        DROP_020 + ", DROP COLUMN reopen_count, DROP COLUMN csat_answers, DROP COLUMN csat_total, "
        "DROP COLUMN agent_step_s; "
        "ALTER TABLE case_compensations DROP COLUMN case_closed_at, DROP COLUMN case_root_cause"
    )
    await db.execute((MIGRATIONS / "017_case_figures.sql").read_text())
    await db.execute((MIGRATIONS / "020_case_csat_by_who.sql").read_text())
    assert await stored_figures(db) == projected and await stored_money(db) == money
    assert by_cause(await causes_report(db, since=S, until=UNTIL)) == EXPECTED


async def test_migration_020_splits_the_scores_of_cases_stored_at_017(db: asyncpg.Pool) -> None:
    """A read model at 017 (every `follow_up_done` score in `csat_answers`, no middle scores, no split):
    020 writes what the projection writes, and the report's covering index covers the new columns."""
    await seed(db)
    projected = await stored_figures(db)
    await db.execute(
        DROP_020 + "; UPDATE cases SET csat_answers = 7, csat_total = 1; "  # not what 020 leaves behind
        "UPDATE cases SET csat_answers = 0, csat_total = NULL WHERE case_id = 'w1'"
    )
    await db.execute((MIGRATIONS / "020_case_csat_by_who.sql").read_text())
    assert await stored_figures(db) == projected
    assert by_cause(await causes_report(db, since=S, until=UNTIL)) == EXPECTED
    index = await db.fetchval("SELECT indexdef FROM pg_indexes WHERE indexname = 'cases_closed_by_cause_figures'")
    for column in FIGURE_COLUMNS.split(", "):
        assert column in index


async def test_the_per_cause_pass_reads_the_covering_index_alone(db: asyncpg.Pool) -> None:
    """Without sequential scans (too few rows here for the planner to prefer the index on its own), the
    per-cause pass is an index-only scan: the index covers every column it reads, the CSAT split's too."""
    await seed(db)
    async with db.acquire() as conn, conn.transaction():
        await conn.execute("ANALYZE cases; SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off")
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + CAUSES_SQL, S, UNTIL))
    assert "Index Only Scan using cases_closed_by_cause_figures" in plan, plan

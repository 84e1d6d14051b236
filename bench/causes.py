"""Figure (j): the causes report (`recovery.causes.causes_report`) over N closed cases.

N cases (default 100,000) are seeded through the projection's own code path — `_project`, the body of
`activities.store.projection.project`: events inserted, the case folded and its read model written —
many cases per transaction (each case in its own savepoint, as `project` would run it) on a few
connections at once. Each case is opened, acknowledged, fixed, compensated (a refund in USD, a credit in
EUR or an upgrade without money), followed up with a CSAT score and closed with one of eight root
causes, its close spread evenly over 16 weeks; a few have a repeat contact, a missed deadline, a pause
or a reopening (a second round), so every query of the report has rows to read. The window lies in
the past (from START), so no other figure's cases fall in it.

Then the tables are vacuumed and analysed (what autovacuum does to a steady read model), and the
report over the whole window is timed RUNS times after one unmeasured run; each of its queries is run
once more under `EXPLAIN (ANALYZE, FORMAT JSON)` for its time and the indexes its plan reads.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench.common import project_in_one_transaction, say, summary
from recovery import causes
from workflows.effects import ProjectionBatch
from workflows.models import DomainEvent

START = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday
WEEKS = 16
UNTIL = START + timedelta(weeks=WEEKS)
CAUSES = (
    "carrier",
    "warehouse",
    "product-defect",
    "billing",
    "packaging",
    "supplier",
    "website",
    "customer-error",
)
CAUSE_WEIGHTS = (30, 20, 15, 12, 9, 6, 5, 3)
CHUNK = 250
"""Cases per seeding transaction."""
RUNS = 5
SLOW_S = 20.0
"""A warm-up run over this (10 × the target) is the only run: five more would take minutes each."""
EXPLAIN_TIMEOUT_S = 60.0
M, H, D = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


class _Case:
    """Domain events of one case at offsets from its opening (like the tests' `Case`)."""

    def __init__(self, key: str, opened_at: datetime, severity: str) -> None:
        self.opened_at = opened_at
        self.events: list[DomainEvent] = []
        self.add(timedelta(0), "opened", severity=severity, customer_id=f"cust-{key}", source="email", anomalies=[])

    def add(self, after: timedelta, type_: str, **data: Any) -> None:
        self.events.append(
            DomainEvent(seq=len(self.events) + 1, type=type_, at=self.opened_at + after, actor="agent", data=data)
        )


def _round(case: _Case, rng: random.Random, at: timedelta, csat: int, outcome: str) -> timedelta:
    """Fix, compensate and follow up from `at`; returns the follow-up's offset."""
    at += rng.randint(60, 480) * M
    if rng.random() < 0.03:  # paused inside the fix
        case.add(at - 50 * M, "paused", reason="waiting on the customer")
        case.add(at - 20 * M, "resumed", note="", paused_seconds=1800.0)
    case.add(at, "fix_recorded", description="fixed")
    at += rng.randint(30, 180) * M
    pick = rng.random()
    kind, value, currency = (
        ("refund", f"{rng.randint(5, 120)}.{rng.randint(0, 99):02d}", "USD")
        if pick < 0.45
        else ("credit", f"{rng.randint(5, 80)}.00", "EUR")
        if pick < 0.9
        else ("upgrade", None, None)
    )
    amount = f"{value} {currency}" if value else None
    case.add(at, "compensation_issued", kind=kind, value=value, currency=currency, amount=amount, reference="ref")
    at += rng.randint(20, 48) * H
    case.add(at, "follow_up_done", outcome=outcome, csat=csat, note="")
    return at


def make_case(i: int, rng: random.Random, closed_at: datetime) -> _Case:
    """One closed case, built from a provisional opening, then moved so that it closes at `closed_at`."""
    case = _Case(str(i), START, rng.choice(("low", "normal", "normal", "high", "critical")))
    at = rng.randint(5, 120) * M
    if rng.random() < 0.1:
        case.add(at // 2, "contact_added", contact_count=2)
    if rng.random() < 0.05:
        case.add(at - 1 * M, "deadline_missed", step="acknowledge")
    case.add(at, "acknowledged", message="sorry")
    if rng.random() < 0.05:  # unsatisfied at the follow-up: reopened at fix, a second round
        at = _round(case, rng, at, 2, "unsatisfied") + 1 * H
        case.add(at, "reopened", step="fix", reason="customer unsatisfied")
    at = _round(case, rng, at, rng.choices((1, 2, 3, 4, 5), (1, 1, 2, 4, 4))[0], "satisfied")
    cause = rng.choices(CAUSES, CAUSE_WEIGHTS)[0]
    case.add(at + rng.randint(10, 120) * M, "closed", root_cause=cause, note="done")
    shift = closed_at - case.events[-1].at
    case.events = [e.model_copy(update={"at": e.at + shift}) for e in case.events]
    return case


async def seed(pool: asyncpg.Pool, n: int, concurrency: int, nonce: str) -> dict[str, Any]:
    """N closed cases through the projection, CHUNK per transaction on `concurrency` connections."""
    span = (UNTIL - START).total_seconds()
    chunks = [range(lo, min(lo + CHUNK, n)) for lo in range(0, n, CHUNK)]
    build_s = write_s = 0.0
    done = 0
    queue: asyncio.Queue[range] = asyncio.Queue()
    for chunk in chunks:
        queue.put_nowait(chunk)

    async def lane() -> None:
        nonlocal build_s, write_s, done
        while not queue.empty():
            chunk = queue.get_nowait()
            t0 = time.perf_counter()
            rng = random.Random(chunk.start)
            batches = [
                ProjectionBatch(
                    workflow_id=f"complaint-{nonce}-{i}",
                    case_id=f"{nonce}-{i}",
                    events=make_case(i, rng, START + timedelta(seconds=span * (i + rng.random()) / n)).events,
                )
                for i in chunk
            ]
            t1 = time.perf_counter()
            await project_in_one_transaction(pool, batches)
            build_s += t1 - t0
            write_s += time.perf_counter() - t1
            done += len(chunk)
            if done % 10_000 < CHUNK:
                say(f"(j): {done} of {n} cases seeded")

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(max(1, min(concurrency, len(chunks))))))
    seed_s = time.perf_counter() - started
    t0 = time.perf_counter()
    async with pool.acquire() as conn:
        await conn.execute("VACUUM (ANALYZE) cases, case_steps, case_compensations, events")
    return {
        "seed_s": round(seed_s, 1),
        "cases_per_s": round(n / seed_s, 1) if seed_s else None,
        "build_s_summed": round(build_s, 1),
        "write_s_summed": round(write_s, 1),
        "vacuum_analyze_s": round(time.perf_counter() - t0, 1),
        "cases_per_transaction": CHUNK,
        "connections": concurrency,
    }


def _walk(node: dict[str, Any], indexes: list[str], seq_scans: list[str]) -> None:
    if "Index Name" in node:
        indexes.append(node["Index Name"])
    if node.get("Node Type") == "Seq Scan":
        seq_scans.append(node.get("Relation Name", "?"))
    for child in node.get("Plans", []):
        _walk(child, indexes, seq_scans)


def queries() -> dict[str, tuple[str, tuple[datetime, datetime]]]:
    """The report's queries with the parameters `causes_report` gives them for the seeded window."""
    since, until, weeks = causes.window(START, UNTIL, WEEKS)
    first = datetime.combine(causes.week_starts(until, weeks)[0], datetime.min.time(), UTC)
    window = (since, until)
    return {
        "causes": (causes.CAUSES_SQL, window),
        "compensation": (causes.COMPENSATION_SQL, window),
        "previous_counts": (causes.COUNTS_SQL, (since - (until - since), since)),
        "weeks": (causes.WEEKS_SQL, (first, until)),
    }


async def explain(pool: asyncpg.Pool, timeout_s: float) -> dict[str, Any]:
    """Each query under EXPLAIN (ANALYZE, FORMAT JSON), cut at `timeout_s`: a query cut there is explained
    without ANALYZE (its plan's indexes, no time) and marked `analyzed: false`."""
    out: dict[str, Any] = {}
    async with pool.acquire() as conn:
        for name, (sql, params) in queries().items():
            try:
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    await conn.execute(f"SET LOCAL statement_timeout = {int(timeout_s * 1000)}")
                    raw = await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, *params)
                analyzed = True
            except asyncpg.QueryCanceledError:
                raw = await conn.fetchval("EXPLAIN (FORMAT JSON) " + sql, *params)
                analyzed = False
            plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]
            indexes: list[str] = []
            seq_scans: list[str] = []
            _walk(plan["Plan"], indexes, seq_scans)
            out[name] = {
                "analyzed": analyzed,
                "execution_ms": round(plan["Execution Time"], 1) if analyzed else None,
                "over_ms": None if analyzed else int(timeout_s * 1000),
                "indexes": sorted(set(indexes)),
                "seq_scans": sorted(set(seq_scans)),
                "top_node": plan["Plan"]["Node Type"],
                "plan": plan["Plan"] if not analyzed or plan["Execution Time"] > 500 else None,
            }
    return out


async def figure_j(pool: asyncpg.Pool, n: int, concurrency: int, nonce: str) -> dict[str, Any]:
    say(f"(j): seeding {n} closed cases through the projection, {CHUNK} per transaction on {concurrency} connections")
    seeded = await seed(pool, n, concurrency, nonce)
    say(f"(j): seeded in {seeded['seed_s']} s ({seeded['cases_per_s']} cases/s); timing the causes report")
    t0 = time.perf_counter()
    report = await causes.causes_report(pool, since=START, until=UNTIL, weeks=WEEKS, now=UNTIL)  # warm-up
    warm_up = time.perf_counter() - t0
    times = [warm_up] if warm_up > SLOW_S else []  # far over the target: that one run is the figure
    while len(times) < RUNS and warm_up <= SLOW_S:
        t0 = time.perf_counter()
        report = await causes.causes_report(pool, since=START, until=UNTIL, weeks=WEEKS, now=UNTIL)
        times.append(time.perf_counter() - t0)
    say(f"(j): report p50 {sorted(times)[len(times) // 2]:.2f} s over {len(times)} run(s); EXPLAIN ANALYZE next")
    plans = await explain(pool, EXPLAIN_TIMEOUT_S)
    stats = summary(times)
    return {
        "value": round(stats["p95"], 3),
        "unit": "s (p95)",
        "cases": n,
        "report_cases": sum(c.cases for c in report.causes),
        "report_causes": len(report.causes),
        "weeks": WEEKS,
        "report_s": {k: round(v, 3) if isinstance(v, float) else v for k, v in stats.items()},
        "runs": len(times),
        "warm_up_s": round(warm_up, 3),
        "warm_up_only": warm_up > SLOW_S,
        "seeding": seeded,
        "queries": plans,
        "indexes": sorted({i for q in plans.values() for i in q["indexes"]}),
    }

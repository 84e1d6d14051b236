"""The event store and read model: at-least-once, any-order delivery converges; rebuild is identical."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities.store.projection import project
from tests.helpers import AGENT, LEAD, fast_policy, ticket
from workflows.case import Case
from workflows.effects import ProjectionBatch
from workflows.models import (
    AcknowledgeInput,
    ApprovalInput,
    CloseInput,
    CompensateInput,
    DomainEvent,
    FixInput,
    FollowUpInput,
    PauseInput,
    ResumeInput,
)

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
TABLES = {
    "events": "SELECT workflow_id, seq, case_id, type, at, actor, data FROM events ORDER BY workflow_id, seq",
    "cases": "SELECT * FROM cases ORDER BY workflow_id",
    "case_steps": "SELECT * FROM case_steps ORDER BY workflow_id, round, step",
    "case_compensations": "SELECT * FROM case_compensations ORDER BY workflow_id, seq",
}


def scripted_cases() -> dict[str, list[DomainEvent]]:
    """Three cases' real domain events from the step machine: a full path with approval and a
    reopen, an escalated one with repeat contacts, and a paused one."""
    policy = fast_policy(ack="1h", interval="30m")
    at = lambda minutes: T0 + timedelta(minutes=minutes)

    full = Case.open(ticket("p1", customer="c-full"), policy, "complaint-c-full:ord-1", at(0))
    full.acknowledge(AcknowledgeInput(actor=AGENT, message="Sorry"), at(10))
    full.record_fix(FixInput(actor=AGENT, description="Sent"), at(50))
    full.compensate(CompensateInput(actor=AGENT, kind="refund", amount={"amount": "120.00", "currency": "USD"}), at(60))
    full.decide_approval(ApprovalInput(actor=LEAD, approve=True), at(70))
    full.compensation_issued(full.state.compensations[0].seq, "re_1", at(71))
    full.tick(at(72))
    full.complete_follow_up(FollowUpInput(actor=AGENT, outcome="unsatisfied", csat=2), at(80))
    full.record_fix(FixInput(actor=AGENT, description="Again"), at(90))
    full.compensate(CompensateInput(actor=AGENT, kind="coupon", amount={"amount": "20.00", "currency": "USD"}), at(95))
    full.compensation_issued(full.state.compensations[1].seq, "instr", at(96))
    full.tick(at(97))
    full.complete_follow_up(FollowUpInput(actor=AGENT, outcome="satisfied", csat=5), at(100))
    full.close(CloseInput(actor=AGENT, root_cause="wrong-item-shipped", note="ok"), at(110))

    late = Case.open(ticket("p2", customer="c-late"), policy, "complaint-c-late:ord-1", at(0))
    for minutes in (30, 45, 60, 90):
        late.tick(at(minutes))
    late.add_contact(ticket("p2b", customer="c-late"), at(100))
    late.add_contact(ticket("p2c", customer="c-late"), at(101))
    late.acknowledge(AcknowledgeInput(actor=AGENT), at(120))

    paused = Case.open(ticket("p3", customer="c-paused", order=None), policy, "complaint-generic:T-p3", at(5))
    paused.pause(PauseInput(actor=AGENT, reason="photos"), at(6))
    paused.resume(ResumeInput(actor=AGENT), at(200))
    return {c.state.workflow_id: c.state.events for c in (full, late, paused)}


CASES = scripted_cases()


async def dump(conn: asyncpg.Connection) -> dict[str, list[tuple]]:
    return {name: [tuple(r.values()) for r in await conn.fetch(sql)] for name, sql in TABLES.items()}


async def reset(conn: asyncpg.Connection) -> None:
    await conn.execute("TRUNCATE events, cases, case_steps, case_compensations")


async def apply_in_order(pool: asyncpg.Pool) -> None:
    for workflow_id, events in CASES.items():
        for event in events:
            await project(pool, ProjectionBatch(workflow_id=workflow_id, case_id=workflow_id[10:], events=[event]))


def test_scripted_cases_cover_the_read_model() -> None:
    types = {e.type for events in CASES.values() for e in events}
    assert {
        "opened",
        "acknowledged",
        "fix_recorded",
        "compensation_proposed",
        "compensation_approved",
        "compensation_issued",
        "follow_up_asked",
        "follow_up_done",
        "reopened",
        "closed",
        "warning",
        "escalated",
        "contact_added",
        "severity_changed",
        "paused",
        "resumed",
    } <= types


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=st.data())
def test_any_order_and_repetition_converges_to_the_same_tables(db_url: str, data: st.DataObject) -> None:
    # Delivery as activities make it: each event 1-3 times, in batches, batches in any order, some at once.
    deliveries = []
    for workflow_id, events in CASES.items():
        for event in events:
            deliveries += [(workflow_id, event)] * data.draw(st.integers(1, 3), label="copies")
    order = data.draw(st.permutations(range(len(deliveries))), label="order")
    cuts = sorted(data.draw(st.sets(st.integers(1, len(deliveries) - 1), max_size=12), label="cuts"))
    concurrent = data.draw(st.booleans(), label="concurrent")

    async def run() -> tuple[dict, dict]:
        pool = await asyncpg.create_pool(db_url, min_size=1, max_size=4)
        try:
            async with pool.acquire() as conn:
                await reset(conn)
                await apply_in_order(pool)
                expected = await dump(conn)
                await reset(conn)
            shuffled = [deliveries[i] for i in order]
            batches = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True)]
            jobs = []
            for batch in batches:
                for workflow_id in {w for w, _ in batch}:
                    events = [e for w, e in batch if w == workflow_id]
                    jobs.append(ProjectionBatch(workflow_id=workflow_id, case_id=workflow_id[10:], events=events))
            if concurrent:
                await asyncio.gather(*(project(pool, job) for job in jobs))
            else:
                for job in jobs:
                    await project(pool, job)
            async with pool.acquire() as conn:
                return expected, await dump(conn)
        finally:
            await pool.close()

    expected, got = _run(run())
    assert got == expected
    assert len(expected["cases"]) == 3 and len(expected["events"]) == sum(len(v) for v in CASES.values())


def _run(coroutine):
    # Hypothesis drives a sync test; each example gets its own short-lived event loop.
    return asyncio.run(coroutine)


async def test_rebuild_from_the_cli_is_identical_to_the_incremental_read_model(db: asyncpg.Pool, db_url: str) -> None:
    for workflow_id, events in CASES.items():
        random.Random(7).shuffle(events := list(events))
        for start in range(0, len(events), 3):
            await project(
                db, ProjectionBatch(workflow_id=workflow_id, case_id=workflow_id[10:], events=events[start : start + 3])
            )
    async with db.acquire() as conn:
        incremental = await dump(conn)
        await conn.execute("UPDATE cases SET step = 'garbage', contact_count = 99")  # drifted read model
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "starter.cli", "db", "rebuild"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DATABASE_URL": db_url},
    )
    assert result.returncode == 0, result.stderr
    assert "rebuilt the read model of 3 cases" in result.stdout
    async with db.acquire() as conn:
        assert await dump(conn) == incremental
    full = incremental["cases"][[r[0] for r in incremental["cases"]].index("complaint-c-full:ord-1")]
    assert full[6] == "closed"  # step


async def test_worker_refuses_an_unmigrated_database(pg_server: str) -> None:
    name = "unmigrated_" + os.urandom(4).hex()
    admin = await asyncpg.connect(pg_server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    from tests.conftest import _with_database

    try:
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "worker"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "DATABASE_URL": _with_database(pg_server, name), "TEMPORAL_ADDRESS": "127.0.0.1:1"},
        )
        assert result.returncode == 1
        assert "the database is not migrated" in result.stderr and "recovery db migrate" in result.stderr
        assert "Traceback" not in result.stderr
        migrated = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "starter.cli", "db", "migrate"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "DATABASE_URL": _with_database(pg_server, name)},
        )
        assert migrated.returncode == 0 and "applied 001_event_store" in migrated.stdout
    finally:
        admin = await asyncpg.connect(pg_server)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

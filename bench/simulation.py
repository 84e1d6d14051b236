"""Figure (i): the policy simulator over 10,000 stored cases.

The cases are made by the pure step machine itself (the same code the workflow runs), driven by a
seeded script of agents' actions (acknowledgements early and late, fixes, compensation with and
without approval, pauses, severity changes, follow-ups, some cases left open), and written to the
event store as the projection would. Then `recovery policy simulate`'s path is timed: read every
history from PostgreSQL and replay it under a candidate with a shorter acknowledge budget."""

from __future__ import annotations

import json
import os
import random
import resource
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench.common import say
from workflows.case import Case, Rejection
from workflows.models import (
    AcknowledgeInput,
    Actor,
    ApprovalInput,
    ChangeSeverityInput,
    CloseInput,
    CompensateInput,
    DomainEvent,
    FixInput,
    FollowUpInput,
    PauseInput,
    ResumeInput,
    TicketEvent,
)
from workflows.policy import Policy
from workflows.policy_files import load_policy
from workflows.simulation import CaseHistory

AGENT = Actor(id="alice", role="agent")
LEAD = Actor(id="lena", role="team-lead")
START = datetime(2026, 9, 1, 8, tzinfo=UTC)
END = START + timedelta(days=75)
"""Open cases run on to here, as a live engine would have kept them running until the snapshot."""


def _advance(case: Case, to: datetime) -> None:
    for _ in range(1000):
        wake = case.next_wakeup()
        if wake is None or wake.at > to:
            return
        case.tick(wake.at)
        case.state.outbox.clear()


def play_case(n: int, policy: Policy, rng: random.Random) -> CaseHistory:
    """One case as the workflow would have recorded it, with agents acting at random times."""
    opened_at = START + timedelta(minutes=(37 * n) % (60 * 24 * 60) + rng.randrange(30))  # 60 days of cases
    severity = rng.choice(["critical", "high", "normal", "normal", "low"])
    ticket = TicketEvent.model_validate(
        {
            "source": "generic",
            "event_id": f"sim-{n}",
            "ticket_id": f"S-{n}",
            "customer": {"id": f"cust-{n % 997}", "name": "Sim Customer"},
            "subject": "Late delivery",
            "order": {"id": f"ord-{n}", "currency": "USD", "total": "80.00"},
            "severity": severity,
            "occurred_at": opened_at.isoformat(),
        }
    )
    case = Case.open(ticket, policy, f"complaint-sim-{n:06d}", opened_at, effects=False)
    now = opened_at
    budget_ack = policy.deadlines(case.state.severity).acknowledge.total_seconds()

    def at(seconds: float) -> datetime:
        nonlocal now
        now = now + timedelta(seconds=seconds)
        _advance(case, now)
        return now

    try:
        if rng.random() < 0.15:
            case.pause(
                PauseInput(actor=AGENT, reason="waiting on the customer"), at(budget_ack * rng.uniform(0.1, 0.4))
            )
            case.resume(ResumeInput(actor=AGENT), at(rng.uniform(600, 20000)))
        if rng.random() < 0.1:
            case.change_severity(
                ChangeSeverityInput(actor=AGENT, severity=rng.choice(["high", "low"]), reason="triage"),
                at(rng.uniform(60, 900)),
            )
        if rng.random() < 0.05:
            return _history(case)  # never acknowledged (yet)
        case.acknowledge(AcknowledgeInput(actor=AGENT, message="Sorry."), at(budget_ack * rng.uniform(0.2, 1.6)))
        if rng.random() < 0.05:
            return _history(case)
        case.record_fix(FixInput(actor=AGENT, description="Resent."), at(rng.uniform(1800, 40000)))
        if rng.random() < 0.3:
            case.compensate(
                CompensateInput(actor=AGENT, kind="refund", amount={"amount": "120.00", "currency": "USD"}),
                at(rng.uniform(600, 9000)),
            )
            comp = case.state.compensations[-1]
            case.decide_approval(ApprovalInput(actor=LEAD, approve=True), at(rng.uniform(300, 9000)))
        else:
            case.compensate(
                CompensateInput(actor=AGENT, kind="credit", amount={"amount": "20.00", "currency": "USD"}),
                at(rng.uniform(600, 9000)),
            )
            comp = case.state.compensations[-1]
        case.compensation_issued(comp.seq, f"ref-{n}", at(2))
        while not case.state.clock.follow_up_asked:  # the follow-up delay may be business time
            wake = case.next_wakeup()
            assert wake is not None
            at((wake.at - now).total_seconds())
        case.complete_follow_up(
            FollowUpInput(actor=AGENT, outcome="satisfied", csat=rng.randrange(1, 6)), at(rng.uniform(600, 40000))
        )
        case.close(CloseInput(actor=AGENT, root_cause="late-delivery", note="Done."), at(rng.uniform(600, 20000)))
    except Rejection:
        pass  # a script step the case did not allow (e.g. follow-up not asked yet): the case stays as it is
    return _history(case)


def _history(case: Case) -> CaseHistory:
    _advance(case, END)
    return CaseHistory(workflow_id=case.state.workflow_id, events=list(case.state.events))


def make_histories(count: int, policy: Policy, seed: int = 11) -> list[CaseHistory]:
    rng = random.Random(seed)
    return [play_case(n, policy, rng) for n in range(count)]


async def store_histories(pool: asyncpg.Pool, histories: list[CaseHistory]) -> None:
    records = [
        (
            h.workflow_id,
            e.seq,
            h.workflow_id.removeprefix("complaint-"),
            e.type,
            e.at,
            e.actor,
            json.dumps(DomainEvent.model_validate(e).model_dump(mode="json")["data"]),
        )
        for h in histories
        for e in h.events
    ]
    async with pool.acquire() as conn:
        await conn.copy_records_to_table(
            "events", columns=["workflow_id", "seq", "case_id", "type", "at", "actor", "data"], records=records
        )


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def candidate_policy(base: Policy) -> Policy:
    data = base.model_dump(mode="json")
    for deadlines in data["severities"].values():
        deadlines["acknowledge"] = "30m"
    data["name"], data["version"] = "candidate", "shorter-ack"
    return Policy.model_validate(data)


async def figure_i(pool: asyncpg.Pool, cases: int) -> dict[str, Any]:
    from activities.store.history import load_history_rows
    from workflows.simulation import format_simulation, simulate_stored

    policy = load_policy(None)
    made = time.perf_counter()
    histories = make_histories(cases, policy)
    await store_histories(pool, histories)
    events = sum(len(h.events) for h in histories)
    say(f"(i): {cases} cases ({events} events) stored in {time.perf_counter() - made:.1f} s; simulating")
    candidate = candidate_policy(policy)
    started = time.perf_counter()
    cpu = time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    loaded = await load_history_rows(pool)
    read = time.perf_counter() - started
    workers = min(2, os.cpu_count() or 1)  # as `recovery policy simulate` does
    report = simulate_stored(loaded, candidate, workers=workers)
    text = format_simulation(report)
    wall = time.perf_counter() - started
    return {
        "value": round(wall, 3),
        "unit": "s",
        "cases": report.totals.cases,
        "events": events,
        "read_s": round(read, 3),
        "simulate_s": round(wall - read, 3),
        "cpu_s": round(time.process_time() - cpu, 3),
        "worker_processes_cpu_s": round(_cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - _cpu(children), 3),
        "workers": workers,
        "cases_per_s": round(report.totals.cases / wall, 1) if wall else None,
        "breaches_recorded": report.totals.actual_breaches,
        "breaches_candidate": report.totals.candidate_breaches,
        "changed_cases": report.totals.changed,
        "report_bytes": len(text.encode()),
    }

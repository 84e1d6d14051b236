"""Figure (l)'s read model: N cases made by the step machine and written through the projection.

Each case is played by the pure step machine (`workflows.case.Case`, the code the workflow runs) from a
seeded script, then stored as the workflow's projector stores it: one `ProjectionBatch` with its events
and its status snapshot (`Case.status`) through `_project` — events inserted, the case folded, its read
model and `case_status` written. 90 % are closed (opened over the 180 days before the run, acknowledged,
fixed, compensated, followed up, closed with a root cause); 10 % are open, as of the run's start, in
every state the console's queue tabs and filters select: unassigned, owned by the signed-in team lead
("mine") or another agent, awaiting approval, paused, proactive, breached and escalated, due soon, at
every step and severity, from every source. One open case has CASE_EVENTS events (repeat contacts,
then ignored ticket events), for the case page.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench.common import project_in_one_transaction, say
from workflows.case import Case, Rejection
from workflows.effects import ProjectionBatch
from workflows.models import (
    AcknowledgeInput,
    Actor,
    ApprovalInput,
    AssignInput,
    CloseInput,
    CompensateInput,
    FixInput,
    FollowUpInput,
    IgnoredEventInput,
    PauseInput,
    TicketEvent,
)
from workflows.policy import Policy

ME = Actor(id="lena", role="team-lead")
"""The console's signed-in user: a team lead sees every tab, the approval tab too."""
ALICE = Actor(id="alice", role="agent")
BOB = Actor(id="bob", role="agent")
SOURCES = ("email", "zendesk", "jira", "generic")
OPEN_EVERY = 10
"""One case in ten is open."""
OPEN_KINDS = ("unassigned", "mine", "other", "approval", "paused", "proactive", "follow_up", "breached")
CHUNK = 250
"""Cases per seeding transaction (each in its savepoint, as `project` runs it)."""
CLOSED_SPAN = timedelta(days=180)
M, H, D = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


def workflow_id(nonce: str, i: int) -> str:
    return f"complaint-rm{nonce}-{i:06d}"


def _ticket(nonce: str, i: int, at: datetime, source: str, severity: str) -> TicketEvent:
    proactive = source == "proactive"
    return TicketEvent.model_validate(
        {
            "source": source,
            "event_id": f"proactive:late_delivery:{nonce}-{i}" if proactive else f"rm-{nonce}-{i}",
            "ticket_id": f"RM-{i}",
            "customer": {"id": f"cust-{i % 25_000:05d}", "name": "Read Model"},
            "subject": "Parcel late" if proactive else "Wrong size shipped",
            "order": {"id": f"ord-{i}", "currency": "USD", "total": "80.00"},
            "severity": severity,
            "occurred_at": at.isoformat(),
        }
    )


class _Play:
    """One case and its clock: each step happens `after` the previous one, the machine ticking between."""

    def __init__(self, case: Case, at: datetime) -> None:
        self.case = case
        self.now = at

    def at(self, after: timedelta) -> datetime:
        self.advance(self.now + after)
        return self.now

    def advance(self, to: datetime) -> None:
        for _ in range(1000):
            wake = self.case.next_wakeup()
            if wake is None or wake.at > to:
                break
            self.case.tick(wake.at)
        self.case.state.outbox.clear()
        self.now = max(self.now, to)

    def until_follow_up_asked(self, limit: datetime) -> bool:
        while not self.case.state.clock.follow_up_asked:
            wake = self.case.next_wakeup()
            if wake is None or wake.at > limit:
                return False
            self.at(wake.at - self.now)
        return True


def _compensate(play: _Play, rng: random.Random, by: Actor, big: bool) -> None:
    amount = "120.00" if big else f"{rng.randint(5, 45)}.00"
    kind = "refund" if big or rng.random() < 0.5 else "credit"
    play.case.compensate(
        CompensateInput(actor=by, kind=kind, amount={"amount": amount, "currency": "USD"}),
        play.at(rng.uniform(600, 9000) * timedelta(seconds=1)),
    )


def _issue(play: _Play, n: int) -> None:
    comp = play.case.state.compensations[-1]
    play.case.compensation_issued(comp.seq, f"ref-{n}", play.at(2 * timedelta(seconds=1)))


def closed_case(policy: Policy, nonce: str, i: int, opened_at: datetime, rng: random.Random) -> Case:
    severity = rng.choice(("critical", "high", "normal", "normal", "low"))
    case = Case.open(
        _ticket(nonce, i, opened_at, rng.choice(SOURCES), severity),
        policy,
        workflow_id(nonce, i),
        opened_at,
        effects=False,
    )
    play = _Play(case, opened_at)
    ack = policy.deadlines(case.state.severity).acknowledge
    seconds = timedelta(seconds=1)
    try:
        if rng.random() < 0.3:
            case.assign(AssignInput(actor=ME, assignee=rng.choice(("alice", "bob", "lena"))), play.at(2 * M))
        case.acknowledge(AcknowledgeInput(actor=ALICE, message="Sorry."), play.at(ack * rng.uniform(0.1, 1.4)))
        case.record_fix(FixInput(actor=ALICE, description="Resent."), play.at(rng.uniform(1800, 40000) * seconds))
        big = rng.random() < 0.2
        _compensate(play, rng, ALICE, big)
        if big:
            case.decide_approval(ApprovalInput(actor=ME, approve=True), play.at(rng.uniform(300, 9000) * seconds))
        _issue(play, i)
        if play.until_follow_up_asked(opened_at + 30 * D):
            case.complete_follow_up(
                FollowUpInput(actor=ALICE, outcome="satisfied", csat=rng.randrange(1, 6)),
                play.at(rng.uniform(600, 40000) * seconds),
            )
            cause = rng.choice(policy.root_causes)
            case.close(
                CloseInput(actor=ALICE, root_cause=cause, note="Done."), play.at(rng.uniform(600, 20000) * seconds)
            )
    except Rejection:
        pass  # a step the case did not allow at that moment: it stays as it is
    return case


def open_case(policy: Policy, nonce: str, i: int, now: datetime, rng: random.Random, kind: str) -> Case:
    """An open case in the queue state `kind`, as of `now`."""
    severity = rng.choice(("critical", "high", "normal", "normal", "low"))
    source = "proactive" if kind == "proactive" else rng.choice(SOURCES)
    age = rng.uniform(2, 5) * D if kind == "breached" else rng.uniform(5 * M / D, 1.5) * D
    opened_at = now - age
    case = Case.open(
        _ticket(nonce, i, opened_at, source, severity), policy, workflow_id(nonce, i), opened_at, effects=False
    )
    play = _Play(case, opened_at)
    ack = policy.deadlines(case.state.severity).acknowledge
    try:
        if kind in ("mine", "other", "approval", "paused", "follow_up") or (kind == "proactive" and rng.random() < 0.5):
            owner = {"mine": "lena", "other": rng.choice(("alice", "bob"))}.get(
                kind, rng.choice(("alice", "bob", "lena"))
            )
            case.assign(AssignInput(actor=ME, assignee=owner), play.at(1 * M))
            case.acknowledge(AcknowledgeInput(actor=BOB, message="Sorry."), play.at(ack * rng.uniform(0.05, 0.4)))
            if kind == "paused":
                case.pause(PauseInput(actor=BOB, reason="waiting on the customer"), play.at(10 * M))
            elif kind in ("mine", "other") and rng.random() < 0.5:
                case.record_fix(FixInput(actor=BOB, description="Resent."), play.at(30 * M))
            elif kind in ("approval", "follow_up"):
                case.record_fix(FixInput(actor=BOB, description="Resent."), play.at(20 * M))
                _compensate(play, rng, BOB, big=kind == "approval")
                if kind == "follow_up":
                    _issue(play, i)
    except Rejection:
        pass
    play.advance(max(now, play.now))
    return case


def big_case(policy: Policy, nonce: str, i: int, now: datetime, events: int) -> Case:
    """An open case with `events` events: repeat contacts (each third raises it and escalates), then ignored
    ticket events to the exact count."""
    opened_at = now - 2 * H
    case = Case.open(
        _ticket(nonce, i, opened_at, "email", "low"), policy, workflow_id(nonce, i), opened_at, effects=False
    )
    play = _Play(case, opened_at)
    case.assign(AssignInput(actor=ME, assignee="lena"), play.at(1 * M))
    step = timedelta(seconds=1)
    n = 0
    while len(case.state.events) < events * 2 // 3:
        n += 1
        case.add_contact(
            _ticket(nonce, i, play.now, "email", "low").model_copy(update={"event_id": f"c{n}"}), play.at(step)
        )
    while len(case.state.events) < events:
        n += 1
        ignored = IgnoredEventInput(event_id=f"i{n}", source="email", rule="status", step="pause", reason="a test")
        case.record_ignored(ignored, play.at(step))
    case.state.outbox.clear()
    return case


def make_case(policy: Policy, nonce: str, i: int, n: int, now: datetime, case_events: int) -> Case:
    rng = random.Random(i)
    if i == 0:
        return big_case(policy, nonce, i, now, case_events)
    if i % OPEN_EVERY == 0:
        return open_case(policy, nonce, i, now, rng, OPEN_KINDS[(i // OPEN_EVERY) % len(OPEN_KINDS)])
    opened_at = now - 3 * D - CLOSED_SPAN * ((n - i) / n) - rng.uniform(0, 1) * H
    return closed_case(policy, nonce, i, opened_at, rng)


def batch_of(case: Case, now: datetime) -> ProjectionBatch:
    s = case.state
    return ProjectionBatch(workflow_id=s.workflow_id, case_id=s.case_id, events=list(s.events), status=case.status(now))


async def seed(
    pool: asyncpg.Pool, policy: Policy, n: int, concurrency: int, nonce: str, now: datetime, case_events: int
) -> dict[str, Any]:
    """N cases through the projection, CHUNK per transaction on `concurrency` connections."""
    queue: asyncio.Queue[range] = asyncio.Queue()
    for lo in range(0, n, CHUNK):
        queue.put_nowait(range(lo, min(lo + CHUNK, n)))
    build_s = write_s = 0.0
    done = events = 0

    async def lane() -> None:
        nonlocal build_s, write_s, done, events
        while not queue.empty():
            chunk = queue.get_nowait()
            t0 = time.perf_counter()
            batches = [batch_of(make_case(policy, nonce, i, n, now, case_events), now) for i in chunk]
            t1 = time.perf_counter()
            await project_in_one_transaction(pool, batches)
            build_s += t1 - t0
            write_s += time.perf_counter() - t1
            events += sum(len(b.events) for b in batches)
            done += len(chunk)
            if done % 10_000 < CHUNK:
                say(f"(l): {done} of {n} cases seeded")
            await asyncio.sleep(0)  # building is CPU in this loop: let the other lanes' writes go on

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(max(1, concurrency))))
    seed_s = time.perf_counter() - started
    t0 = time.perf_counter()
    async with pool.acquire() as conn:
        await conn.execute("VACUUM (ANALYZE)")
        states = await conn.fetchrow(STATES_SQL, ME.id)
    return {
        "seed_s": round(seed_s, 1),
        "cases_per_s": round(n / seed_s, 1) if seed_s else None,
        "events": events,
        "build_s_summed": round(build_s, 1),
        "write_s_summed": round(write_s, 1),
        "vacuum_analyze_s": round(time.perf_counter() - t0, 1),
        "cases_per_transaction": CHUNK,
        "connections": concurrency,
        "states": dict(states),
    }


STATES_SQL = """
SELECT count(*) AS cases,
       count(*) FILTER (WHERE c.closed_at IS NOT NULL) AS closed,
       count(*) FILTER (WHERE c.closed_at IS NULL) AS open,
       count(*) FILTER (WHERE c.closed_at IS NULL AND c.assignee IS NULL) AS unassigned,
       count(*) FILTER (WHERE c.closed_at IS NULL AND c.assignee = $1) AS mine,
       count(*) FILTER (WHERE c.closed_at IS NULL AND c.escalation_level > 0) AS escalated,
       count(*) FILTER (WHERE c.closed_at IS NULL AND c.breaches > 0) AS breached,
       count(*) FILTER (WHERE c.closed_at IS NULL AND c.paused) AS paused,
       count(*) FILTER (WHERE c.closed_at IS NULL AND c.source = 'proactive') AS proactive,
       count(*) FILTER (WHERE c.closed_at IS NULL
                        AND s.status->'pending_compensation'->>'status' = 'pending_approval') AS awaiting_approval,
       count(*) FILTER (WHERE c.closed_at IS NULL AND s.due_at < now() + interval '1 hour') AS due_within_an_hour
FROM cases c LEFT JOIN case_status s USING (workflow_id)
"""
"""How many seeded cases are in each queue state (the figure reports it, so an empty tab shows)."""


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)

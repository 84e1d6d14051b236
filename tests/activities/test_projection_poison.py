"""Breaches and poison in the event store (real PostgreSQL): a `deadline_missed` at the top of the
ladder shows in the SLA report; a NUL is stored without it; an event the database refuses is
quarantined in place, so the read model folds past it; a batch that can never be stored is a
non-retryable `PoisonBatch` (the workflow skips it with an alert)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.store.projection import Projector, project
from recovery.reports import sla_report
from tests.helpers import AGENT, fast_policy, ticket
from workflows.case import Case
from workflows.effects import ProjectionBatch
from workflows.models import AcknowledgeInput, DomainEvent

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
WID = "complaint-cust-1:ord-1"


def batch(events: list[DomainEvent]) -> ProjectionBatch:
    return ProjectionBatch(workflow_id=WID, case_id=WID.removeprefix("complaint-"), events=events)


async def test_a_breach_at_the_top_of_the_ladder_is_in_the_report(db: asyncpg.Pool) -> None:
    case = Case.open(ticket("report"), fast_policy(ack="1h", fix="2h", interval="30m"), WID, T0)
    while (wake := case.next_wakeup()) is not None and wake.at <= T0 + timedelta(minutes=150):
        case.tick(wake.at)
    case.acknowledge(AcknowledgeInput(actor=AGENT), T0 + timedelta(minutes=150))
    while (wake := case.next_wakeup()) is not None and wake.at <= T0 + timedelta(hours=8):
        case.tick(wake.at)
    assert await project(db, batch(case.state.events))
    report = await sla_report(db)
    breaches = {(s.step, s.breaches) for s in report.steps if s.step in ("acknowledge", "fix")}
    # Before: the fix step's breach at level 3 left no trace and the report said 1.
    assert breaches == {("acknowledge", 1), ("fix", 1)} and report.totals.breaches == 2


async def test_a_nul_is_stored_without_it_and_a_refused_event_is_quarantined(db: asyncpg.Pool) -> None:
    # Intake refuses control characters now; a case from before that (or any other path) must still store.
    poisoned = ticket("nul", subject="Broken glass").model_copy(update={"subject": "Broken\u0000glass"})
    case = Case.open(poisoned, fast_policy(), WID, T0)
    opened = case.state.events[0]
    refused = DomainEvent(
        seq=2, type="contact_added", at=T0, actor="engine", data={"contact_count": 2, "note": "\ud800"}
    )  # a lone surrogate: jsonb refuses it
    later = DomainEvent(seq=3, type="paused", at=T0, actor="alice", data={"reason": "waiting"})
    assert await project(db, batch([opened, refused, later]))
    stored = await db.fetch("SELECT seq, data FROM events WHERE workflow_id = $1 ORDER BY seq", WID)
    assert [r["seq"] for r in stored] == [1, 2, 3]
    assert '"Brokenglass"' in stored[0]["data"] and "quarantined" in stored[1]["data"]
    row = await db.fetchrow("SELECT last_seq, paused FROM cases WHERE workflow_id = $1", WID)
    assert row["last_seq"] == 3 and row["paused"]  # folded past the quarantined event


async def test_a_batch_that_can_never_be_stored_is_not_retried(db: asyncpg.Pool) -> None:
    # An "opened" event without its severity cannot be folded: the same on every attempt.
    broken = DomainEvent(seq=1, type="opened", at=T0, actor="engine", data={})
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(Projector(db).project_events, batch([broken]))
    assert caught.value.type == "PoisonBatch" and caught.value.non_retryable

"""Deadlines and the escalation ladder, on the time-skipping test server (simulated time)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.notifications import Notifier
from starter.cases import open_case, run_step, status, timeline
from tests.helpers import AGENT, fast_policy, ticket
from worker import build_worker
from workflows.complaint import ComplaintWorkflow
from workflows.models import AcknowledgeInput, DomainEvent, PauseInput, ResumeInput

QUEUE = "recovery-skip"


def offsets(events: list[DomainEvent], opened_at) -> list[tuple[str, float, dict]]:
    return [(e.type, (e.at - opened_at).total_seconds(), e.data) for e in events]


async def test_unacknowledged_case_warns_then_climbs_the_ladder(skip_env: WorkflowEnvironment, receiver, db) -> None:
    client = skip_env.client
    async with build_worker(client, pool=db, queue=QUEUE, notifier=Notifier(receiver.url), versioning=False):
        opened = await open_case(client, ticket("ladder"), fast_policy(ack="1h", interval="30m"), QUEUE)
        await skip_env.sleep(timedelta(hours=3))
        events = await timeline(client, opened.case_id)
        current = await status(client, opened.case_id)

    t0 = events[0].at
    got = [
        (kind, round(offset), data.get("level"), data.get("fraction"), data.get("step"))
        for kind, offset, data in offsets(events, t0)
    ]
    assert got == [
        ("opened", 0, None, None, None),
        ("warning", 30 * 60, None, 0.5, "acknowledge"),
        ("warning", 45 * 60, None, 0.75, "acknowledge"),
        ("deadline_missed", 60 * 60, 0, None, "acknowledge"),  # the breach, its own event
        ("escalated", 60 * 60, 1, None, "acknowledge"),
        ("escalated", 90 * 60, 2, None, "acknowledge"),
        ("escalated", 120 * 60, 3, None, "acknowledge"),
    ]
    # "to the second of simulated time"
    for _, offset, _ in offsets(events, t0):
        assert abs(offset - round(offset)) < 1.0
    assert [e.data["role"] for e in events if e.type == "escalated"] == ["team-lead", "manager", "executive"]
    assert current.step == "acknowledge" and current.escalation_level == 3
    assert receiver.keys() and all(count == 1 for count in receiver.keys().values())


async def test_acknowledging_stops_the_ladder(skip_env: WorkflowEnvironment, receiver, db) -> None:
    client = skip_env.client
    async with build_worker(client, pool=db, queue=QUEUE, notifier=Notifier(receiver.url), versioning=False):
        opened = await open_case(client, ticket("stop"), fast_policy(ack="1h", fix="10h", interval="30m"), QUEUE)
        await skip_env.sleep(timedelta(minutes=70))
        await run_step(client, opened.case_id, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
        await skip_env.sleep(timedelta(hours=4))
        events = await timeline(client, opened.case_id)
        current = await status(client, opened.case_id)

    types = [e.type for e in events]
    assert types == ["opened", "warning", "warning", "deadline_missed", "escalated", "acknowledged"]
    assert current.step == "fix" and current.escalation_level == 1
    # Fix has 10h: its first warning (50%) is 5h after acknowledging, not yet due.
    assert current.deadlines.next_warning_at == events[-1].at + timedelta(hours=5)


async def test_a_pause_moves_the_deadline_by_its_length(skip_env: WorkflowEnvironment, receiver, db) -> None:
    client = skip_env.client
    async with build_worker(client, pool=db, queue=QUEUE, notifier=Notifier(receiver.url), versioning=False):
        opened = await open_case(client, ticket("pause"), fast_policy(ack="1h", interval="30m"), QUEUE)
        before = (await status(client, opened.case_id)).deadlines.due_at
        await skip_env.sleep(timedelta(minutes=10))
        paused = await run_step(
            client, opened.case_id, ComplaintWorkflow.pause, PauseInput(actor=AGENT, reason="waiting for photos")
        )
        assert paused.paused and paused.deadlines.due_at is None
        await skip_env.sleep(timedelta(hours=3))
        resumed = await run_step(client, opened.case_id, ComplaintWorkflow.resume, ResumeInput(actor=AGENT))
        events = await timeline(client, opened.case_id)

    pause_event = next(e for e in events if e.type == "paused")
    resume_event = next(e for e in events if e.type == "resumed")
    paused_for = resume_event.at - pause_event.at
    assert paused_for >= timedelta(hours=3)
    assert resumed.deadlines.due_at == before + paused_for
    assert abs((resumed.deadlines.due_at - before) - timedelta(hours=3)).total_seconds() < 1
    # Three hours paused past a one-hour budget, and still no warning or escalation: pause never counts.
    assert [e.type for e in events] == ["opened", "paused", "resumed"]


async def test_silence_sends_a_status_update(skip_env: WorkflowEnvironment, receiver, db) -> None:
    client = skip_env.client
    async with build_worker(client, pool=db, queue=QUEUE, notifier=Notifier(receiver.url), versioning=False):
        opened = await open_case(
            client, ticket("quiet"), fast_policy(ack="1h", fix="3d", interval="30m", max_silence="6h"), QUEUE
        )
        await run_step(client, opened.case_id, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
        await skip_env.sleep(timedelta(hours=13))
        events = await timeline(client, opened.case_id)

    acked = next(e for e in events if e.type == "acknowledged").at
    updates = [round((e.at - acked).total_seconds() / 3600, 3) for e in events if e.type == "customer_updated"]
    assert updates == [6.0, 12.0]
    assert sum(1 for item in receiver.for_case(opened.case_id) if item["template"] == "status_update") == 2


async def test_age_ceiling_escalates_to_the_top(skip_env: WorkflowEnvironment, receiver, db) -> None:
    client = skip_env.client
    async with build_worker(client, pool=db, queue=QUEUE, notifier=Notifier(receiver.url), versioning=False):
        opened = await open_case(
            client, ticket("old"), fast_policy(ack="1h", fix="30d", interval="30m", age_ceiling="2d"), QUEUE
        )
        await run_step(client, opened.case_id, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
        await skip_env.sleep(timedelta(days=2, minutes=1))
        events = await timeline(client, opened.case_id)

    escalations = [(e.data["level"], e.data["reason"]) for e in events if e.type == "escalated"]
    assert escalations == [(3, "age ceiling reached")]
    ceiling = next(e for e in events if e.type == "escalated")
    assert ceiling.at - events[0].at == pytest.approx(timedelta(days=2), abs=timedelta(seconds=1))

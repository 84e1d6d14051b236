"""Fewer billable actions: the compensation issued as a local activity in the compensate step's
workflow task, the follow-up step's deadline shown from its start, and overdue wakeups handled in the
task that finds them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from activities.notifications import Notifier
from activities.store.projection import stored_status
from bench.actions_by_history import count_history
from bench.common import ticket
from bench.lifecycle import ACK, COMPENSATE, FIX, lifecycle_policy, real_lifecycle
from starter.cases import open_case, run_step, status
from starter.cases import status as status_of
from starter.cases import timeline as status_timeline
from tests.helpers import eventually, fast_policy
from worker import build_worker
from workflows import search_attributes as sa
from workflows.complaint import ComplaintWorkflow
from workflows.models import workflow_id_for


async def test_the_compensation_and_its_notice_share_one_workflow_task(
    client: Client, worker: Worker, task_queue: str, db: asyncpg.Pool
) -> None:
    key = f"cmp-{uuid.uuid4().hex[:6]}"
    await real_lifecycle(client, task_queue, key, lifecycle_policy(), db)
    events = list((await client.get_workflow_handle(workflow_id_for(ticket(key).case_key)).fetch_history()).events)
    markers = [
        e.marker_recorded_event_attributes for e in events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    ]
    by_task: dict[int, int] = {}
    for marker in markers:
        by_task[marker.workflow_task_completed_event_id] = by_task.get(marker.workflow_task_completed_event_id, 0) + 1
    assert sorted(by_task.values()) == [1, 1, 1, 1, 2]  # the issue beside the compensation notice's plan
    assert {m.marker_name for m in markers} == {"core_local_activity"}
    assert "issue_compensation" not in count_history(events)["activities"]
    issued = await db.fetchval(
        "SELECT count(*) FROM ledger WHERE workflow_id = $1 AND status = 'succeeded'",
        workflow_id_for(ticket(key).case_key),
    )
    assert issued == 1


async def test_the_follow_up_deadline_shown_does_not_move_when_the_customer_is_asked(
    client: Client, worker: Worker, task_queue: str
) -> None:
    opened = await open_case(client, ticket(f"fu-{uuid.uuid4().hex[:6]}"), lifecycle_policy(), task_queue)
    case = opened.case_id
    handle = client.get_workflow_handle(opened.workflow_id)
    await run_step(client, case, ComplaintWorkflow.acknowledge, ACK)
    await run_step(client, case, ComplaintWorkflow.record_fix, FIX)
    compensated = await run_step(client, case, ComplaintWorkflow.compensate, COMPENSATE)
    ask_at = compensated.deadlines.due_at
    assert compensated.step == "follow_up" and ask_at is not None

    async def shown() -> object:
        return (await handle.describe()).typed_search_attributes.get(sa.NEXT_DEADLINE)

    before = await eventually(shown)
    asked = await eventually(lambda: _asked(client, case))
    # shown from the step's start: the answer's deadline, which asking on time leaves where it was
    assert before == asked.deadlines.due_at and before > ask_at
    assert await shown() == before
    upserts = [
        e
        for e in (await handle.fetch_history()).events
        if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    ]
    assert len(upserts) == 3  # acknowledge, fix, compensate: none for the question


async def _asked(client: Client, case: str) -> object:
    current = await status(client, case)
    return current if current.deadlines.follow_up_asked else None


async def test_wakeups_overdue_when_their_task_runs_are_handled_in_that_task(
    client: Client, task_queue: str, db: asyncpg.Pool, receiver: Any
) -> None:
    # A storm queues the workflow tasks: a case's first warning may run after its second warning and its
    # deadline are due. Here no worker runs while they pass.
    policy = fast_policy(ack="4s")
    async with build_worker(client, pool=db, queue=task_queue, notifier=Notifier(receiver.url)):
        opened = await open_case(client, ticket(f"late-{uuid.uuid4().hex[:6]}"), policy, task_queue)
    snapshot = await eventually(lambda: stored_status(db, opened.workflow_id))  # the read model: no worker now
    due = snapshot.deadlines.due_at
    assert due is not None
    await eventually(lambda: _past(due + timedelta(seconds=1)), timeout=15)
    async with build_worker(client, pool=db, queue=task_queue, notifier=Notifier(receiver.url)):

        async def escalated() -> bool:
            return (await status_of(client, opened.case_id)).escalation_level == 1

        await eventually(escalated)
        timeline = await status_timeline(client, opened.case_id)
    events = list((await client.get_workflow_handle(opened.workflow_id).fetch_history()).events)
    fired = next(i for i, e in enumerate(events) if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED)
    told = [e.event_id for e in events[fired:] if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    armed = [
        e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        for e in events[fired:]
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]
    # both warnings and the escalation told (a plan each), and no timer armed for what was due: the
    # next one is for the next escalation, the policy's interval away
    assert len(told) >= 3 and all(delay > timedelta(minutes=1) for delay in armed), armed
    kinds = [(e.type, e.data.get("fraction")) for e in timeline if e.type in ("warning", "escalated")]
    assert kinds == [("warning", 0.5), ("warning", 0.75), ("escalated", None)]
    at = {e.type + str(e.data.get("fraction", "")): e.at for e in timeline}
    assert at["warning0.5"] < at["warning0.75"] < at["escalated"] == due  # each at its own moment


async def _past(moment: datetime) -> bool:
    return datetime.now(UTC) > moment

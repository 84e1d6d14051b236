"""compact-actions: the rules named by the start (no patch, so no TemporalChangeVersion upsert), the
compensation issued as a local activity in the compensate step's workflow task, and the follow-up step's
deadline shown from its start; a start naming rules a worker does not know waits for one that does; a
start that names none (an older client's) runs by its patches as before."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

import starter.cases
from bench.actions_by_history import count_history
from bench.common import ticket
from bench.lifecycle import ACK, COMPENSATE, FIX, lifecycle_policy, real_lifecycle
from starter.cases import open_case, run_step, status
from tests.helpers import eventually
from workflows import search_attributes as sa
from workflows.complaint import ComplaintWorkflow
from workflows.models import workflow_id_for
from workflows.shell.start import CaseStart, UnknownRules


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


async def test_a_start_without_rules_runs_by_its_patches(
    client: Client, worker: Worker, task_queue: str, db: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(starter.cases, "CURRENT_RULES", None)  # an older client's start
    key = f"old-{uuid.uuid4().hex[:6]}"
    await real_lifecycle(client, task_queue, key, lifecycle_policy(), db)
    counted = count_history(
        list((await client.get_workflow_handle(workflow_id_for(ticket(key).case_key)).fetch_history()).events)
    )
    assert counted["markers"]["core_patch"] == 1  # lean-actions, which implies the older patches
    assert counted["activities"]["issue_compensation"] == 1
    assert counted["by_type"]["upsert"] >= 1 + 5  # TemporalChangeVersion (the patch's), then the steps


async def _task_retried(handle: WorkflowHandle) -> bool:
    """The first workflow task keeps failing (the server retries it, without new history events)."""
    return (await handle.describe()).raw_description.pending_workflow_task.attempt >= 2


def test_unknown_rules_are_refused_by_name() -> None:
    start = CaseStart(ticket=ticket("refuse"), policy=lifecycle_policy())
    with pytest.raises(UnknownRules, match="'from-a-newer-client', which this worker does not know"):
        ComplaintWorkflow(start.model_copy(update={"rules": "from-a-newer-client"}))


async def test_a_start_naming_unknown_rules_waits_for_a_worker_that_knows_them(
    client: Client, worker: Worker, task_queue: str
) -> None:
    start = CaseStart(ticket=ticket(f"new-{uuid.uuid4().hex[:6]}"), policy=lifecycle_policy()).model_dump(mode="json")
    handle = await client.start_workflow(
        "ComplaintWorkflow",
        {**start, "rules": "from-a-newer-client"},
        id=f"complaint-rules-{uuid.uuid4().hex[:6]}",
        task_queue=task_queue,
    )
    await eventually(lambda: _task_retried(handle), timeout=30)
    assert (await handle.describe()).status.name == "RUNNING"  # not failed: a newer worker can take it
    history = [e.event_type for e in (await handle.fetch_history()).events]
    assert EventType.EVENT_TYPE_MARKER_RECORDED not in history  # nothing was run by older rules
    await handle.terminate("test over")

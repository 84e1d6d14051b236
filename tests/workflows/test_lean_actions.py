"""lean-actions: a standard lifecycle costs fewer billable actions, and keeps its guarantees (the read
model converges, the opening search attributes are right, a store that refuses everything neither
holds back a message nor keeps the case from finishing)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

import activities.carried
from activities.carried import PlanAndProject
from activities.compensation import Compensator
from activities.notifications import Notifier
from activities.store.projection import Projector
from bench.actions_by_history import count_history
from bench.common import ticket
from bench.lifecycle import lifecycle_policy, real_lifecycle
from recovery.versioning import deployment_config
from starter.cases import open_case, status
from tests.helpers import eventually
from workflows import search_attributes as sa
from workflows.complaint import ComplaintWorkflow
from workflows.models import workflow_id_for


async def test_a_standard_lifecycle_is_lean_and_its_read_model_complete(
    client: Client, worker: Worker, task_queue: str, db: asyncpg.Pool
) -> None:
    key = f"lean-{uuid.uuid4().hex[:6]}"
    await real_lifecycle(client, task_queue, key, lifecycle_policy())
    handle = client.get_workflow_handle(workflow_id_for(ticket(key).case_key))
    counted = count_history(list((await handle.fetch_history()).events))
    # Was 14 activities (8 of them projection batches), 5-6 timers: see docs/performance.md, "Levers tried".
    # The 5 plans (each carrying its step's events) are local activities: no activity task of their own.
    # compact-actions: the compensation is a local activity too, in the compensate step's task.
    activities = counted["activities"]
    assert "issue_compensation" not in activities and activities["project_events"] == 2
    assert counted["by_type"]["local_activity_tasks"] == 5
    assert counted["markers"] == {"core_local_activity": 6}  # no patch marker: the start names the rules
    assert counted["by_type"]["timer"] <= 3
    row = await db.fetchrow("SELECT step, last_seq FROM cases WHERE workflow_id = $1", handle.id)
    assert row is not None and (row["step"], row["last_seq"]) == ("closed", 8)
    assert await db.fetchval("SELECT last_seq FROM case_status WHERE workflow_id = $1", handle.id) == 8
    attrs = (await handle.describe()).typed_search_attributes
    assert attrs.get(sa.RECOVERY_STEP) == "closed" and attrs.get(sa.NEXT_DEADLINE) is None


async def test_the_opening_search_attributes_come_with_the_start(
    client: Client, worker: Worker, task_queue: str
) -> None:
    opened = await open_case(client, ticket(f"open-{uuid.uuid4().hex[:6]}"), lifecycle_policy(), task_queue)
    handle = client.get_workflow_handle(opened.workflow_id)
    attrs = (await handle.describe()).typed_search_attributes
    assert attrs.get(sa.NEXT_DEADLINE) == (await status(client, opened.case_id)).deadlines.due_at
    assert attrs.get(sa.RECOVERY_STEP) == "acknowledge"
    history = (await handle.fetch_history()).events
    upserted = [
        name
        for e in history
        if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
        for name in e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
    ]
    assert upserted == []  # the start names its rules: no patch, so not even the SDK's TemporalChangeVersion


class RefusingPool:
    """An event store that can never take a batch (every batch is a poison batch)."""

    def acquire(self) -> Any:
        raise ValueError("refused")


async def test_a_store_refusing_every_batch_holds_back_no_message_and_the_case_finishes(
    client: Client, task_queue: str, db: asyncpg.Pool, receiver: Any
) -> None:
    notifier = Notifier(receiver.url)
    notifier.store = db
    refusing = Projector(RefusingPool())  # type: ignore[arg-type]
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[ComplaintWorkflow],
        deployment_config=deployment_config(True),  # as worker.build_worker
        activities=[
            *notifier.activities,
            Compensator.from_env(db).issue_compensation,
            refusing.project_events,
            PlanAndProject(notifier, refusing).plan_and_project,
        ],
    ):
        key = f"refused-{uuid.uuid4().hex[:6]}"
        await real_lifecycle(client, task_queue, key, lifecycle_policy())
    case = ticket(key).case_key
    history = (await client.get_workflow_handle(workflow_id_for(case)).fetch_history()).events
    failed = [e for e in history if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED]
    assert len(failed) >= 1  # the projector's own batches, refused and skipped with an alert

    async def told() -> bool:
        return {i["template"] for i in receiver.for_case(case)} >= {
            "acknowledgement",
            "fix_notice",
            "follow_up_request",
        }

    await eventually(told)


class HangingPool:
    """An event store that never answers (PostgreSQL unreachable rather than refusing connections)."""

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        await asyncio.Event().wait()
        yield None


async def test_a_hanging_store_holds_back_no_plan_and_the_projector_stores_the_events(
    client: Client, task_queue: str, db: asyncpg.Pool, receiver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The plan is a local activity: its store gives up after STORE_TIMEOUT and the plan goes on.
    monkeypatch.setattr(activities.carried, "STORE_TIMEOUT", 0.2)
    notifier = Notifier(receiver.url)
    notifier.store = db
    projector = Projector(db)
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[ComplaintWorkflow],
        deployment_config=deployment_config(True),  # as worker.build_worker
        activities=[
            *notifier.activities,
            Compensator.from_env(db).issue_compensation,
            projector.project_events,
            PlanAndProject(notifier, Projector(HangingPool())).plan_and_project,  # type: ignore[arg-type]
        ],
    ):
        key = f"hanging-{uuid.uuid4().hex[:6]}"
        await real_lifecycle(client, task_queue, key, lifecycle_policy())
    case = ticket(key).case_key
    templates = {i["template"] for i in receiver.for_case(case)}
    assert templates >= {"acknowledgement", "fix_notice", "follow_up_request"}
    row = await db.fetchrow("SELECT step, last_seq FROM cases WHERE workflow_id = $1", workflow_id_for(case))
    assert row is not None and (row["step"], row["last_seq"]) == ("closed", 8)

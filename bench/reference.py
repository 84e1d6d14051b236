"""The reference's no-op activities, its worker and one lifecycle of client calls (see
`bench/reference_workflow.py`). Same worker options as `worker.build_worker`; the client calls are
those of a standard lifecycle (`bench.lifecycle.real_lifecycle`) with the same step inputs."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.worker import Worker

from bench.common import run_update
from bench.reference_workflow import COMPENSATE, NOTIFY, ReferenceWorkflow
from recovery.sandbox import sharing_workflow_modules
from workflows.models import TicketEvent


@activity.defn(name=NOTIFY)
async def reference_notify(step: str) -> str:
    return "ok"


@activity.defn(name=COMPENSATE)
async def reference_compensate(step: str) -> str:
    return "ref"


def build_reference_worker(client: Client, queue: str, max_cached_workflows: int = 10000) -> Worker:
    return Worker(
        client,
        task_queue=queue,
        workflows=[ReferenceWorkflow],
        workflow_runner=sharing_workflow_modules(ReferenceWorkflow),  # as worker.build_worker
        activities=[reference_notify, reference_compensate],
        max_cached_workflows=max_cached_workflows,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


def reference_id(case_key: str) -> str:
    return f"reference-{case_key}"


async def open_reference(client: Client, ticket: TicketEvent, queue: str, follow_up_seconds: float) -> Any:
    """Update-with-start like `starter.cases.open_case`, without search attributes."""
    start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
        "ReferenceWorkflow",
        {"ticket": ticket.model_dump(mode="json"), "follow_up_seconds": follow_up_seconds},
        id=reference_id(ticket.case_key),
        task_queue=queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    return await client.execute_update_with_start_workflow(
        "add_contact", {"ticket": ticket.model_dump(mode="json")}, start_workflow_operation=start, result_type=dict
    )


async def step_reference(client: Client, case_key: str, update: str, inp: Any) -> dict[str, Any]:
    return await run_update(client, reference_id(case_key), update, inp)


async def reference_lifecycle(
    client: Client, queue: str, t: TicketEvent, steps: dict[str, Any], follow_up_s: float, poll_s: float
) -> float:
    """One lifecycle: open, acknowledge, fix, compensate, wait for the follow-up question, complete it,
    close, the result. `steps` holds the step inputs by update name."""
    started = time.perf_counter()
    await open_reference(client, t, queue, follow_up_s)
    case = t.case_key
    for name in ("acknowledge", "record_fix", "compensate"):
        await step_reference(client, case, name, steps[name])
    await asyncio.sleep(follow_up_s)
    handle = client.get_workflow_handle(reference_id(case))
    while not await handle.query("follow_up_asked", result_type=bool):
        await asyncio.sleep(poll_s)
    for name in ("complete_follow_up", "close"):
        await step_reference(client, case, name, steps[name])
    await handle.result()
    return time.perf_counter() - started

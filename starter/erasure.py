"""`recovery erase-customer` on the Temporal side: the customer's open cases are sent the `erase`
update (operators only: the case drops the name, address and texts and continues as new), and the
closed runs of their cases, whose histories still hold the texts, are listed or deleted."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus

from starter.cases import run_step
from starter.server_errors import CaseError
from workflows.complaint import ComplaintWorkflow
from workflows.models import Actor, EraseInput, Identifier

NEW_RUN_WAIT = 30.0
"""How long to wait for an erased case's new run to start (it continues as new at once)."""


@dataclass(frozen=True)
class Run:
    workflow_id: str
    run_id: str
    status: str


def operator(by: str) -> Actor:
    """The actor the case records: `--by` when it is an id (`dpo@example.com`), else `operator`."""
    try:
        return Actor(id=TypeAdapter(Identifier).validate_python(by), role="operator")
    except ValidationError:
        return Actor(id="operator", role="operator")


async def customer_runs(client: Client, customer: str) -> list[Run]:
    """Every run of the customer's cases Temporal still has (`CustomerId` holds a checked id)."""
    query = f"WorkflowType = 'ComplaintWorkflow' AND CustomerId = '{customer}'"
    runs = []
    async for execution in client.list_workflows(query):
        status = execution.status.name if execution.status is not None else "UNKNOWN"
        runs.append(Run(execution.id, execution.run_id, status))
    return runs


async def erase_open_cases(client: Client, customer: str, by: str) -> tuple[list[str], list[Run]]:
    """Send each open case of `customer` the `erase` update; (the erased workflow ids, the runs they
    left behind, closed by continuing as new)."""
    actor = operator(by)
    erased: list[str] = []
    left: list[Run] = []
    for run in await customer_runs(client, customer):
        if run.status != WorkflowExecutionStatus.RUNNING.name or run.workflow_id in erased:
            continue
        try:
            await run_step(client, run.workflow_id, ComplaintWorkflow.erase, EraseInput(actor=actor))
        except CaseError as err:
            if err.code == "closed":  # closed meanwhile: its runs are listed with the closed ones
                continue
            raise
        erased.append(run.workflow_id)
        left.extend(await _runs_before_current(client, run.workflow_id, run.run_id))
    return erased, left


async def _runs_before_current(client: Client, workflow_id: str, erased_run: str) -> list[Run]:
    """The run the erasure closed (and the one it continued from, if the erasure met a newer run):
    found from the new run's first event, as the list may lag behind."""
    handle = client.get_workflow_handle(workflow_id)
    deadline = time.monotonic() + NEW_RUN_WAIT
    while True:
        described = await handle.describe()
        if described.run_id != erased_run or described.status != WorkflowExecutionStatus.RUNNING:
            break
        if time.monotonic() > deadline:
            return [Run(workflow_id, erased_run, "RUNNING")]  # still moving: listed, deleted later
        await asyncio.sleep(0.2)
    runs = [Run(workflow_id, erased_run, "CONTINUED_AS_NEW")]
    if described.status == WorkflowExecutionStatus.RUNNING:
        async for event in client.get_workflow_handle(workflow_id, run_id=described.run_id).fetch_history_events():
            previous = event.workflow_execution_started_event_attributes.continued_execution_run_id
            if previous and previous != erased_run:
                runs.append(Run(workflow_id, previous, "CONTINUED_AS_NEW"))
            break
    return runs


async def closed_runs(client: Client, customer: str, also: list[Run]) -> list[Run]:
    """The closed runs of the customer's cases (with `also`, which the list may not show yet), never
    a run that is open now."""
    found = {(r.workflow_id, r.run_id): r for r in also}
    for run in await customer_runs(client, customer):
        found.setdefault((run.workflow_id, run.run_id), run)
    closed = []
    for run in found.values():
        described = await client.get_workflow_handle(run.workflow_id, run_id=run.run_id).describe()
        if described.status not in (None, WorkflowExecutionStatus.RUNNING):
            closed.append(Run(run.workflow_id, run.run_id, described.status.name))
    return sorted(closed, key=lambda r: (r.workflow_id, r.run_id))


async def delete_runs(client: Client, runs: list[Run]) -> None:
    """`temporal workflow delete` for each run: its history goes (the server deletes asynchronously)."""
    for run in runs:
        await client.workflow_service.delete_workflow_execution(
            DeleteWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=run.workflow_id, run_id=run.run_id),
            )
        )

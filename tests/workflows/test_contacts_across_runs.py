"""A contact that reaches a case's new run (after continue-as-new) in that run's first workflow task,
on the real dev server: the SDK runs the update's handler before the workflow's `run`, so the case
must already apply its de-duplication window there, and an update the old run already applied (the
server may hand it to the new run again with the same update id, temporalio/temporal#6375) gets its
first answer. The new run is started directly with a carried state, the contact in its first task."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from starter.cases import status
from tests.helpers import fast_policy, ticket
from workflows.case import Case, CaseState
from workflows.complaint import CaseStart, ComplaintWorkflow
from workflows.models import ContactInput, ContactResult, TicketEvent
from workflows.shell.carrying import carried_state, remember_answer

POLICY = fast_policy(ack="30d", fix="30d", max_silence="30d")


def carried(workflow_id: str, opening: TicketEvent, contacts: list[tuple[str, str]]) -> CaseState:
    """The state an old run carries after adding `contacts` ((event id, update id)) to the case."""
    now = datetime.now(UTC)
    case = Case.open(opening, POLICY, workflow_id, now)
    case.add_contact(opening, now)
    for event_id, update_id in contacts:
        remember_answer(case, update_id, case.add_contact(ticket("race", event=event_id), now))
    return carried_state(case)


async def continue_with(
    client: Client, task_queue: str, state: CaseState, opening: TicketEvent, contact: TicketEvent, update_id: str
) -> ContactResult:
    """Start the "new run" from `state` with `contact` as the update of its first task."""
    start = WithStartWorkflowOperation(
        ComplaintWorkflow.run,
        CaseStart(ticket=opening, policy=POLICY, state=state),
        id=state.workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    return await client.execute_update_with_start_workflow(
        ComplaintWorkflow.add_contact,
        ContactInput(ticket=contact),
        id=update_id,
        start_workflow_operation=start,
        result_type=ContactResult,
    )


async def test_a_redelivered_contact_in_the_new_runs_first_task_is_a_duplicate(
    client: Client, worker, task_queue: str
) -> None:
    workflow_id = f"complaint-race-{uuid.uuid4().hex[:8]}"
    opening = ticket("race", event="race-open")
    state = carried(workflow_id, opening, [("race-1", "first-delivery")])
    assert state.contact_count == 2

    again = await continue_with(client, task_queue, state, opening, ticket("race", event="race-1"), "redelivery")
    assert again.duplicate and again.contact_count == 2  # before: counted a second time (3)
    assert (await status(client, workflow_id)).contact_count == 2


async def test_an_update_the_old_run_applied_gets_its_first_answer_in_the_new_run(
    client: Client, worker, task_queue: str
) -> None:
    workflow_id = f"complaint-race-{uuid.uuid4().hex[:8]}"
    opening = ticket("race", event="race-open")
    state = carried(workflow_id, opening, [("race-1", "update-1"), ("race-2", "update-2")])
    assert state.contact_count == 3

    same = await continue_with(client, task_queue, state, opening, ticket("race", event="race-1"), "update-1")
    assert not same.duplicate and same.contact_count == 2  # its own count, once
    fresh = await continue_with(client, task_queue, state, opening, ticket("race", event="race-3"), "update-3")
    assert not fresh.duplicate and fresh.contact_count == 4
    assert (await status(client, workflow_id)).contact_count == 4

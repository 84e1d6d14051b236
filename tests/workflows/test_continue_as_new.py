"""A long case continues as new when the server suggests it, carrying its whole state."""

from __future__ import annotations

from temporalio.client import Client, WorkflowExecutionStatus

from starter.cases import open_case, run_step, status, timeline
from tests.conftest import CONTINUE_AS_NEW_AT
from tests.helpers import AGENT, fast_policy, ticket
from workflows.complaint import ComplaintWorkflow
from workflows.models import AcknowledgeInput, PauseInput, ResumeInput


async def test_long_history_continues_as_new_with_its_state(client: Client, worker, task_queue: str, db) -> None:
    opened = await open_case(client, ticket("long", customer="cust-long"), fast_policy(), task_queue)
    case = opened.case_id
    first_run = (await client.get_workflow_handle(opened.workflow_id).describe()).run_id
    cycles = 0
    while (await client.get_workflow_handle(opened.workflow_id).describe()).run_id == first_run:
        assert cycles < CONTINUE_AS_NEW_AT, "never continued as new"
        await run_step(client, case, ComplaintWorkflow.pause, PauseInput(actor=AGENT, reason=f"waiting #{cycles}"))
        await run_step(client, case, ComplaintWorkflow.resume, ResumeInput(actor=AGENT))
        cycles += 1

    old = await client.get_workflow_handle(opened.workflow_id, run_id=first_run).describe()
    assert old.status == WorkflowExecutionStatus.CONTINUED_AS_NEW

    async def store():  # the projected events stay behind in the event store
        return db

    events = await timeline(client, case, store)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert len(events) == 1 + 2 * cycles
    carried = await status(client, case)
    assert carried.step == "acknowledge" and not carried.paused and carried.contact_count == 1
    # The case goes on in the new run, and the same ticket is still recognised as a duplicate.
    again = await open_case(client, ticket("long", customer="cust-long"), fast_policy(), task_queue)
    assert again.duplicate and again.contact_count == 1
    acked = await run_step(client, case, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
    assert acked.step == "fix" and acked.last_event_seq == len(events) + 1

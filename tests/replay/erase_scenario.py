"""The `erase_customer_data` replay scenario (kept beside tests/replay/record.py, which runs it): an
acknowledged case is erased by an operator (an agent may not), continues as new with the erased
state, and is fixed in the new run, whose customer message goes through the ticket only."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType

from activities.store.projection import stored_events
from starter.cases import open_case, run_step, status
from tests.helpers import AGENT, fast_policy, ticket
from tests.replay.record import (
    Recorded,
    Rig,
    _event_types,
    _refused,
    _until,
    _updates,
    check,
    find,
    in_order,
    record_run,
)
from workflows.case.erasure import ERASED
from workflows.complaint import ComplaintWorkflow
from workflows.models import AcknowledgeInput, Actor, EraseInput, FixInput

OPERATOR = Actor(id="dpo", role="operator")


async def erase_customer_data(rig: Rig) -> list[Recorded]:
    client = rig.client
    async with rig.worker() as queue:
        opened = await open_case(client, ticket("rec-erase", customer="cust-erase"), fast_policy(), queue)
        case = opened.case_id
        handle = client.get_workflow_handle(opened.workflow_id)
        first = (await handle.describe()).run_id
        await run_step(client, case, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT, message="Sorry."))
        await _refused(run_step(client, case, ComplaintWorkflow.erase, EraseInput(actor=AGENT)), "forbidden")
        erased = await run_step(client, case, ComplaintWorkflow.erase, EraseInput(actor=OPERATOR))
        check(erased.subject == ERASED and erased.customer_name == ERASED, f"not erased: {erased}")

        async def moved() -> bool:
            return (await handle.describe()).run_id != first

        await _until(moved, "the erased case to continue as new")
        second = (await handle.describe()).run_id
        await run_step(client, case, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Replaced."))

        async def notified() -> bool:
            timeline = await client.get_workflow_handle(opened.workflow_id, run_id=second).query(
                ComplaintWorkflow.timeline
            )
            return any(e.type == "notified" for e in timeline)

        await _until(notified, "the fix notice to be done")
        check((await status(client, case)).subject == ERASED, "the new run is not erased")
        run1 = await record_run(client, "erase_customer_data", opened.workflow_id, first, only_run=False)
        run2 = await record_run(client, "erase_customer_data_run2", opened.workflow_id, second, only_run=False)
    check(
        _event_types(run1.history)[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
        "the erased run did not end with continue-as-new",
    )
    # (the closed run's timeline is what it carried: nothing, every event was stored before it moved)
    check(_updates(run1.history, "erase") == 1, "the refused erase was written, or the operator's was not")
    async with rig.pool.acquire() as conn:
        stored = await stored_events(conn, opened.workflow_id)
    in_order(stored, ("acknowledged", {}), ("erased", {"role": "operator"}), ("fix_recorded", {}))
    find(run2.events, "fix_recorded")
    check(b"Dana Example" not in run2.history.events[0].SerializeToString(), "the new run's input holds the name")
    return [run1, run2]

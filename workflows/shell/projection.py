"""The projector: new domain events to the event store, batched, beside (never blocking) agents' steps."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.models import PROJECT_EVENTS, ProjectionBatch
from workflows.shell.start import PROJECT_RETRY

if TYPE_CHECKING:
    from workflows.complaint import ComplaintWorkflow


def projected(wf: ComplaintWorkflow) -> bool:
    return not wf._projecting or wf.case.state.projected_seq >= wf.case.state.seq


async def projector(wf: ComplaintWorkflow) -> None:
    """Send new domain events to the event store, batched, beside (never blocking) agents' steps."""
    state = wf.case.state
    while True:
        # A plan in flight carries the new events (lean-actions): wait for it rather than send them too.
        await workflow.wait_condition(lambda: not projected(wf) and wf._hold == 0)
        events = [e for e in state.events if e.seq > state.projected_seq]
        wf._sending_upto = max(wf._sending_upto, events[-1].seq)
        try:
            await workflow.execute_activity(
                PROJECT_EVENTS,
                ProjectionBatch(
                    workflow_id=state.workflow_id,
                    case_id=state.case_id,
                    events=events,
                    status=wf.case.status(workflow.now()),
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=PROJECT_RETRY,
                summary=f"store events {events[0].seq}-{events[-1].seq}",
            )
        except ActivityError as err:
            # Only a non-retryable failure gets here (PROJECT_RETRY retries outages for ever): a
            # batch the store can never take must not keep the case from finishing. Alert, go on.
            if not wf._robust:
                raise
            workflow.logger.error(
                "events %d-%d could not be stored: %s",
                events[0].seq,
                events[-1].seq,
                err.cause or err,
                extra={"case_id": state.case_id, "alert": "projection"},
            )
            workflow.metric_meter().create_counter(
                "recovery_projection_failures", "event batches the event store refused"
            ).add(1)
        state.projected_seq = max(state.projected_seq, events[-1].seq)

"""The max-silence clock moves only when a message reaches the customer (time-skipping server, the
real worker and webhook receiver): an acknowledgement that fails all its delivery attempts leaves the
silence measured from the last message that got through, so the status update comes on time."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment

from activities.notifications import Notifier
from starter.cases import open_case, timeline
from tests.helpers import AGENT, fast_policy, ticket
from worker import build_worker
from workflows.models import AcknowledgeInput

QUEUE = "recovery-silence"


async def test_an_undelivered_acknowledgement_does_not_reset_the_silence_clock(
    skip_env: WorkflowEnvironment, receiver, db
) -> None:
    client = skip_env.client
    async with build_worker(client, pool=db, queue=QUEUE, notifier=Notifier(receiver.url), versioning=False):
        opened = await open_case(client, ticket("silence"), fast_policy(ack="30d", fix="30d", max_silence="6h"), QUEUE)
        await skip_env.sleep(timedelta(minutes=10))
        receiver.fail_next = 20  # every attempt of the acknowledgement answers 503
        await client.get_workflow_handle(opened.workflow_id).start_update(
            "acknowledge", AcknowledgeInput(actor=AGENT), wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        await skip_env.sleep(timedelta(hours=7))
        events = await timeline(client, opened.case_id)

    t0 = events[0].at
    # The acknowledgement (queued at 10 min) is retried until the receiver takes it: only then does
    # the silence clock move, so the status update comes 6 h after that delivery. (Before: queuing it
    # moved the clock whether or not it arrived, and the update came at exactly 6 h 10 min.)
    updates = [round((e.at - t0).total_seconds()) for e in events if e.type == "customer_updated"]
    assert len(updates) == 1 and 6 * 3600 + 10 * 60 < updates[0] < 7 * 3600, updates
    assert any(i["template"] == "status_update" for i in receiver.received)

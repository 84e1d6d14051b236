"""The whole recovery path on the real dev server, through updates."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from starter.cases import open_case, run_step, status, timeline
from tests.helpers import AGENT, eventually, fast_policy, ticket
from workflows import search_attributes as sa
from workflows.complaint import ComplaintWorkflow
from workflows.models import (
    AcknowledgeInput,
    CloseInput,
    CompensateInput,
    FixInput,
    FollowUpInput,
)


async def test_full_recovery_path(client: Client, worker, task_queue: str, receiver) -> None:
    t = ticket("life", customer="cust-life")
    opened = await open_case(client, t, fast_policy(), task_queue)
    assert opened.created and opened.contact_count == 1
    case = opened.case_id

    await run_step(
        client, case, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT, message="Sorry about the size.")
    )
    await run_step(
        client, case, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Replacement in size M shipped.")
    )
    after_comp = await run_step(
        client,
        case,
        ComplaintWorkflow.compensate,
        CompensateInput(actor=AGENT, kind="coupon", amount={"amount": "20.00", "currency": "USD"}, reason="sorry"),
    )
    assert after_comp.step == "follow_up"
    assert [c.status for c in after_comp.compensation] == ["issued"]
    code = after_comp.compensation[0].code  # a coupon is a code the customer redeems, shown to them
    assert code is not None and code.startswith("SORRY-") and after_comp.compensation[0].reference == code

    async def told() -> bool:
        notes = [i for i in receiver.for_case(case) if i["template"] == "compensation_notice"]
        return bool(notes) and f"Your code: {code}." in notes[0]["text"]

    await eventually(told)

    async def asked() -> bool:
        return (await status(client, case)).deadlines.follow_up_asked

    await eventually(asked)
    await run_step(
        client, case, ComplaintWorkflow.complete_follow_up, FollowUpInput(actor=AGENT, outcome="satisfied", csat=5)
    )
    closed = await run_step(
        client,
        case,
        ComplaintWorkflow.close,
        CloseInput(actor=AGENT, root_cause="wrong-item-shipped", note="Picking error at the warehouse."),
    )
    assert closed.step == "closed" and closed.root_cause == "wrong-item-shipped"

    events = await timeline(client, case)
    assert [e.type for e in events] == [
        "opened",
        "acknowledged",
        "fix_recorded",
        "compensation_proposed",
        "compensation_issued",
        "follow_up_asked",
        "follow_up_done",
        "closed",
    ]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[1].actor == "alice"

    handle = client.get_workflow_handle_for(ComplaintWorkflow.run, opened.workflow_id)
    result = await handle.result()
    assert result.step == "closed"
    history = await handle.fetch_history()
    summaries = []
    for event in history.events:
        # The plans are local activities (lean-actions): their summaries are on their markers.
        named = event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED or (
            event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED and event.user_metadata.HasField("summary")
        )
        if named:
            summaries.append(client.data_converter.payload_converter.from_payload(event.user_metadata.summary, str))
    assert "notify customer: acknowledgement" in summaries
    assert "issue coupon 20.00 USD" in summaries
    described = await handle.describe()
    attrs = described.typed_search_attributes
    assert attrs.get(sa.RECOVERY_STEP) == "closed"
    assert attrs.get(sa.CUSTOMER_ID) == "cust-life"
    assert attrs.get(sa.TICKET_SOURCE) == "generic"
    assert (await described.static_summary()).startswith("Case cust-life:ord-1")

    async def delivered() -> bool:
        return {item["template"] for item in receiver.for_case(case)} >= {
            "new_case",
            "acknowledgement",
            "fix_notice",
            "compensation_notice",
            "follow_up_request",
        }

    await eventually(delivered)


async def test_notification_webhook_failures_are_retried(client: Client, worker, task_queue: str, receiver) -> None:
    receiver.fail_next = 2  # the receiver answers 503 twice before accepting
    opened = await open_case(client, ticket("retry", customer="cust-retry"), fast_policy(), task_queue)

    async def delivered() -> list:
        return [item for item in receiver.for_case(opened.case_id) if item["template"] == "new_case"]

    arrived = await eventually(delivered)
    assert len(arrived) == 1
    assert arrived[0]["text"].startswith("*New case*")
    assert arrived[0]["_key_header"] == f"{opened.workflow_id}:1:0"
    assert "notification_failed" not in [e.type for e in await timeline(client, opened.case_id)]

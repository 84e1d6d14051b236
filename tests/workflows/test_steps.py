"""Agents' steps on the real dev server: ordering, authority and approval, contacts, follow-up, close."""

from __future__ import annotations

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from starter.cases import CaseError, open_case, run_step, status, timeline
from tests.helpers import AGENT, LEAD, OTHER_AGENT, eventually, fast_policy, ticket
from workflows.complaint import ComplaintWorkflow
from workflows.models import (
    AcknowledgeInput,
    ApprovalInput,
    CloseInput,
    CompensateInput,
    FixInput,
    FollowUpInput,
)


async def history_length(client: Client, workflow_id: str) -> int:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return len(history.events)


async def settled_history_length(client: Client, workflow_id: str) -> int:
    """History length once background work (storing events) is done and no task is pending."""

    async def idle() -> int:
        description = await client.get_workflow_handle(workflow_id).describe()
        raw = description.raw_description
        if raw.pending_activities or raw.HasField("pending_workflow_task"):
            return 0
        return await history_length(client, workflow_id)

    return await eventually(idle)


async def open_at_compensate(client: Client, task_queue: str, name: str):
    opened = await open_case(client, ticket(name, customer=f"cust-{name}"), fast_policy(), task_queue)
    await run_step(client, opened.case_id, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
    await run_step(
        client, opened.case_id, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Sent the right size.")
    )
    return opened


async def test_out_of_order_step_is_rejected_naming_the_step_and_writes_nothing(client, worker, task_queue):
    opened = await open_case(client, ticket("order", customer="cust-order"), fast_policy(), task_queue)
    await run_step(client, opened.case_id, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
    before = await settled_history_length(client, opened.workflow_id)

    with pytest.raises(CaseError) as rejected:
        await run_step(
            client,
            opened.case_id,
            ComplaintWorkflow.compensate,
            CompensateInput(actor=AGENT, kind="refund", amount={"amount": "5.00", "currency": "USD"}),
        )
    assert rejected.value.code == "out_of_order"
    assert "step 'fix'" in rejected.value.message
    with pytest.raises(CaseError, match="step 'fix'"):
        await run_step(
            client, opened.case_id, ComplaintWorkflow.close, CloseInput(actor=AGENT, root_cause="other", note="x")
        )

    assert await history_length(client, opened.workflow_id) == before
    assert [e.type for e in await timeline(client, opened.case_id)] == ["opened", "acknowledged"]


async def test_compensation_over_authority_waits_for_someone_elses_approval(client, worker, task_queue, receiver):
    opened = await open_at_compensate(client, task_queue, "approval")
    case = opened.case_id

    waiting = await run_step(
        client,
        case,
        ComplaintWorkflow.compensate,
        CompensateInput(
            actor=AGENT, kind="refund", amount={"amount": "120.00", "currency": "USD"}, reason="Shipping overcharge"
        ),
    )
    assert waiting.step == "compensate"
    assert waiting.pending_compensation is not None
    assert waiting.pending_compensation.status == "pending_approval"
    assert waiting.compensation == []

    with pytest.raises(CaseError) as self_approval:
        await run_step(client, case, ComplaintWorkflow.approve_compensation, ApprovalInput(actor=AGENT, approve=True))
    assert self_approval.value.code == "forbidden" and "self-approval" in self_approval.value.message
    with pytest.raises(CaseError, match="may not approve"):
        await run_step(
            client, case, ComplaintWorkflow.approve_compensation, ApprovalInput(actor=OTHER_AGENT, approve=True)
        )

    approved = await run_step(
        client, case, ComplaintWorkflow.approve_compensation, ApprovalInput(actor=LEAD, approve=True)
    )
    assert approved.step == "follow_up"
    assert [(c.status, str(c.amount), c.approved_by.id) for c in approved.compensation] == [
        ("issued", "120.00 USD", "lena")
    ]
    types = [e.type for e in await timeline(client, case)]
    assert types[-3:] == ["compensation_proposed", "compensation_approved", "compensation_issued"]


async def test_rejected_compensation_returns_to_the_agent(client, worker, task_queue):
    opened = await open_at_compensate(client, task_queue, "reject")
    case = opened.case_id
    await run_step(
        client,
        case,
        ComplaintWorkflow.compensate,
        CompensateInput(actor=AGENT, kind="credit", amount={"amount": "300.00", "currency": "USD"}),
    )
    rejected = await run_step(
        client,
        case,
        ComplaintWorkflow.approve_compensation,
        ApprovalInput(actor=LEAD, approve=False, note="Too much; offer a coupon."),
    )
    assert rejected.step == "compensate" and rejected.pending_compensation is None
    within = await run_step(
        client,
        case,
        ComplaintWorkflow.compensate,
        CompensateInput(actor=AGENT, kind="coupon", amount={"amount": "25.00", "currency": "USD"}),
    )
    assert within.step == "follow_up"


async def test_agent_issued_compensation_keeps_the_agents_reference(client, worker, task_queue):
    opened = await open_at_compensate(client, task_queue, "agentref")
    done = await run_step(
        client,
        opened.case_id,
        ComplaintWorkflow.compensate,
        CompensateInput(actor=AGENT, kind="gift", amount={"amount": "15.00", "currency": "USD"}, reference="GC-7781"),
    )
    assert [(c.reference, c.agent_issued) for c in done.compensation] == [("GC-7781", True)]


async def test_same_event_twice_is_one_workflow_and_one_contact(client, worker, task_queue):
    t = ticket("dup", customer="cust-dup")
    first = await open_case(client, t, fast_policy(), task_queue)
    second = await open_case(client, t, fast_policy(), task_queue)
    assert (first.created, first.duplicate) == (True, False)
    assert (second.created, second.duplicate) == (False, True)
    assert second.workflow_id == first.workflow_id and second.contact_count == 1
    assert (await status(client, first.case_id)).contact_count == 1
    runs = [w async for w in client.list_workflows(f"WorkflowId = '{first.workflow_id}'")]
    assert len(runs) == 1


async def test_nth_contact_raises_severity_and_escalates(client, worker, task_queue):
    # The default policy raises severity and escalates on every 3rd contact.
    opened = await open_case(client, ticket("rep1", customer="cust-rep", severity="normal"), fast_policy(), task_queue)
    second = await open_case(client, ticket("rep2", customer="cust-rep"), fast_policy(), task_queue)
    assert (second.created, second.duplicate, second.contact_count) == (False, False, 2)
    assert (await status(client, opened.case_id)).severity == "normal"
    await open_case(client, ticket("rep3", customer="cust-rep"), fast_policy(), task_queue)

    after = await status(client, opened.case_id)
    assert after.contact_count == 3
    assert after.severity == "high"
    assert after.escalation_level == 1
    events = await timeline(client, opened.case_id)
    assert [e.type for e in events] == ["opened", "contact_added", "contact_added", "severity_changed", "escalated"]
    assert events[-1].data["reason"] == "3 contacts on this case"


async def test_unsatisfied_follow_up_reopens_at_fix_and_close_needs_a_root_cause(client, worker, task_queue):
    opened = await open_at_compensate(client, task_queue, "reopen")
    case = opened.case_id
    await run_step(
        client,
        case,
        ComplaintWorkflow.compensate,
        CompensateInput(actor=AGENT, kind="coupon", amount={"amount": "10.00", "currency": "USD"}),
    )

    async def asked() -> bool:
        return (await status(client, case)).deadlines.follow_up_asked

    await eventually(asked)
    reopened = await run_step(
        client,
        case,
        ComplaintWorkflow.complete_follow_up,
        FollowUpInput(actor=AGENT, outcome="unsatisfied", csat=2, note="Still too big."),
    )
    assert reopened.step == "fix"
    assert reopened.deadlines.due_at is not None
    assert [e.type for e in await timeline(client, case)][-2:] == ["follow_up_done", "reopened"]

    await run_step(
        client, case, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Exchanged for size S.")
    )
    await run_step(
        client,
        case,
        ComplaintWorkflow.compensate,
        CompensateInput(actor=AGENT, kind="none", reason="Already compensated."),
    )
    await eventually(asked)
    await run_step(
        client, case, ComplaintWorkflow.complete_follow_up, FollowUpInput(actor=AGENT, outcome="satisfied", csat=4)
    )

    with pytest.raises(CaseError) as unknown:
        await run_step(client, case, ComplaintWorkflow.close, CloseInput(actor=AGENT, root_cause="gremlins", note="?"))
    assert unknown.value.code == "invalid" and "unknown root cause" in unknown.value.message
    with pytest.raises(ValueError):
        CloseInput(actor=AGENT, root_cause="", note="no cause")
    closed = await run_step(
        client,
        case,
        ComplaintWorkflow.close,
        CloseInput(actor=AGENT, root_cause="wrong-item-shipped", note="Size chart was wrong."),
    )
    assert closed.step == "closed"


async def test_raw_bad_update_input_is_a_clear_rejection(client, worker, task_queue):
    opened = await open_at_compensate(client, task_queue, "rawbad")
    handle = client.get_workflow_handle(opened.workflow_id)
    before = await settled_history_length(client, opened.workflow_id)
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update(
            "compensate",
            {
                "actor": {"id": "alice", "role": "agent"},
                "kind": "refund",
                "amount": {"amount": "-5.00", "currency": "USD"},
            },
        )
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "invalid"
    assert cause.message == "invalid input: amount.amount: amount must not be negative"
    assert await history_length(client, opened.workflow_id) == before


async def test_a_closed_case_is_never_restarted(client, worker, task_queue, db):
    """A redelivered event of a closed case is a duplicate; a new complaint about the same order
    opens the next generation, with its own keys (notifications, ledger, event store)."""
    first = await open_case(client, ticket("gen1", customer="cust-gen"), fast_policy(), task_queue)
    await run_step(client, first.case_id, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
    await run_step(client, first.case_id, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Done."))
    await run_step(
        client,
        first.case_id,
        ComplaintWorkflow.compensate,
        CompensateInput(actor=AGENT, kind="coupon", amount={"amount": "10.00", "currency": "USD"}),
    )

    async def asked() -> bool:
        return (await status(client, first.case_id)).deadlines.follow_up_asked

    await eventually(asked)
    await run_step(
        client, first.case_id, ComplaintWorkflow.complete_follow_up, FollowUpInput(actor=AGENT, outcome="satisfied")
    )
    await run_step(
        client, first.case_id, ComplaintWorkflow.close, CloseInput(actor=AGENT, root_cause="other", note="ok")
    )
    await client.get_workflow_handle(first.workflow_id).result()

    again = await open_case(client, ticket("gen1", customer="cust-gen"), fast_policy(), task_queue)
    assert (again.workflow_id, again.duplicate, again.created) == (first.workflow_id, True, False)
    runs = [w async for w in client.list_workflows(f"WorkflowId = '{first.workflow_id}'")]
    assert len(runs) == 1

    second = await open_case(client, ticket("gen2", customer="cust-gen"), fast_policy(), task_queue)
    assert second.created and second.workflow_id == f"{first.workflow_id}~2" and second.case_id == "cust-gen:ord-1~2"
    await run_step(client, second.case_id, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
    await run_step(client, second.case_id, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Again."))
    paid = await run_step(
        client,
        second.case_id,
        ComplaintWorkflow.compensate,
        CompensateInput(actor=AGENT, kind="refund", amount={"amount": "30.00", "currency": "USD"}),
    )
    assert paid.compensation[0].reference.endswith(f"{second.workflow_id}:4")
    rows = await db.fetch(
        "SELECT idempotency_key, amount FROM ledger WHERE customer_id = 'cust-gen' ORDER BY created_at"
    )
    assert [(r["idempotency_key"], str(r["amount"])) for r in rows] == [
        (f"{first.workflow_id}:4", "10.000"),
        (f"{second.workflow_id}:4", "30.000"),
    ]

"""Ownership on the real dev server: claim, assign, hand on, lead reassign; the Assignee search attribute,
the read model's column and status snapshot, the timeline, and notifications routed to the owner."""

from __future__ import annotations

import pytest
from temporalio.client import Client

from starter.cases import CaseError, open_case, run_step, status, timeline
from tests.helpers import AGENT, LEAD, OTHER_AGENT, eventually, fast_policy, ticket
from workflows import search_attributes as sa
from workflows.complaint import ComplaintWorkflow
from workflows.models import AcknowledgeInput, AssignInput


async def assignee_attribute(client: Client, workflow_id: str) -> str | None:
    description = await client.get_workflow_handle(workflow_id).describe()
    return description.typed_search_attributes.get(sa.ASSIGNEE)


async def test_claim_hand_on_and_lead_reassign(client, worker, task_queue, db, receiver):
    opened = await open_case(client, ticket("own", customer="cust-own"), fast_policy(), task_queue)
    case = opened.case_id
    assert (await status(client, case)).assignee is None
    assert "assign" in (await status(client, case)).accepts

    claimed = await run_step(client, case, ComplaintWorkflow.assign, AssignInput(actor=AGENT, assignee=AGENT.id))
    assert claimed.assignee == "alice"
    await eventually(lambda: _eq(assignee_attribute(client, opened.workflow_id), "alice"))

    # Someone else's case: an agent may not take it; the same owner twice is a conflict; a lead may.
    with pytest.raises(CaseError) as refused:
        await run_step(client, case, ComplaintWorkflow.assign, AssignInput(actor=OTHER_AGENT, assignee=OTHER_AGENT.id))
    assert refused.value.code == "forbidden" and "belongs to alice" in refused.value.message
    with pytest.raises(CaseError) as twice:
        await run_step(client, case, ComplaintWorkflow.assign, AssignInput(actor=AGENT, assignee=AGENT.id))
    assert twice.value.code == "conflict"
    moved = await run_step(
        client, case, ComplaintWorkflow.assign, AssignInput(actor=LEAD, assignee=OTHER_AGENT.id, note="alice is out")
    )
    assert moved.assignee == "bob"
    await eventually(lambda: _eq(assignee_attribute(client, opened.workflow_id), "bob"))

    events = [e for e in await timeline(client, case) if e.type == "assigned"]
    assert [(e.actor, e.data["assignee"], e.data["how"]) for e in events] == [
        ("alice", "alice", "claimed"),
        ("lena", "bob", "reassigned"),
    ]

    # The new owner hears of it, and of repeat contacts; escalations name the owner.
    await eventually(lambda: _has(receiver, case, "assigned", "bob"))
    await open_case(client, ticket("own-2", customer="cust-own"), fast_policy(), task_queue)
    await eventually(lambda: _has(receiver, case, "repeat_contact", "bob"))
    assert not [n for n in receiver.for_case(case) if n["template"] == "repeat_contact" and n["recipient"] == "agent"]

    # The read model: the owner column and the engine's status snapshot, as of the last event.
    async def projected() -> bool:
        row = await db.fetchrow(
            "SELECT c.assignee, s.last_seq, s.status->>'assignee' AS snap "
            "FROM cases c JOIN case_status s USING (workflow_id) WHERE workflow_id = $1",
            opened.workflow_id,
        )
        current = await status(client, case)
        return (
            row is not None
            and row["assignee"] == "bob"
            and row["snap"] == "bob"
            and row["last_seq"] == current.last_event_seq
        )

    await eventually(projected)


async def test_escalation_names_the_owner(client, worker, task_queue, receiver):
    opened = await open_case(
        client, ticket("own-esc", customer="cust-own-esc"), fast_policy(ack="2s", interval="1h"), task_queue
    )
    await run_step(client, opened.case_id, ComplaintWorkflow.assign, AssignInput(actor=AGENT, assignee=AGENT.id))

    async def escalated() -> bool:
        return any(
            n["template"] == "escalation" and "Owner: alice" in n["text"] for n in receiver.for_case(opened.case_id)
        )

    await eventually(escalated, timeout=30)
    warnings = [n for n in receiver.for_case(opened.case_id) if n["template"] == "warning"]
    assert warnings and all(n["recipient"] == "alice" for n in warnings)
    # An acknowledged case still offers only what the engine accepts next.
    after = await run_step(client, opened.case_id, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
    assert "record_fix" in after.accepts and "acknowledge" not in after.accepts


async def test_a_closed_or_unknown_role_cannot_assign(client, worker, task_queue):
    opened = await open_case(client, ticket("own-role", customer="cust-own-role"), fast_policy(), task_queue)
    with pytest.raises(CaseError) as refused:
        await run_step(
            client,
            opened.case_id,
            ComplaintWorkflow.assign,
            AssignInput(actor={"id": "vic", "role": "viewer"}, assignee="vic"),
        )
    assert refused.value.code == "forbidden"


async def _eq(value, expected) -> bool:
    return (await value) == expected


async def _has(receiver, case: str, template: str, recipient: str) -> bool:
    return any(n["template"] == template and n["recipient"] == recipient for n in receiver.for_case(case))

"""Issuing compensation. Here the activity records the instruction (or the agent's external
reference); the payment-provider adapter and the ledger arrive with the event-store work."""

from __future__ import annotations

import structlog
from temporalio import activity

from workflows.models import ISSUE_COMPENSATION, IssueInstruction, IssueResult

log = structlog.get_logger("compensation")


@activity.defn(name=ISSUE_COMPENSATION)
async def issue_compensation(instruction: IssueInstruction) -> IssueResult:
    agent_issued = instruction.agent_reference is not None
    reference = instruction.agent_reference or f"instr-{instruction.key}"
    log.bind(case_id=instruction.case_id, workflow_id=instruction.workflow_id, key=instruction.key).info(
        "compensation instruction",
        kind=instruction.kind.value,
        amount=str(instruction.amount) if instruction.amount else None,
        customer_id=instruction.customer_id,
        issued_by=instruction.issued_by.id,
        approved_by=instruction.approved_by.id if instruction.approved_by else None,
        reference=reference,
        agent_issued=agent_issued,
    )
    return IssueResult(reference=reference, agent_issued=agent_issued)

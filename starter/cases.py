"""Client-side operations on complaint workflows, shared by the CLI and the HTTP API."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from workflows import search_attributes as sa
from workflows.complaint import CaseStart, ComplaintWorkflow
from workflows.models import CaseStatus, ContactInput, ContactResult, DomainEvent, TicketEvent, workflow_id_for
from workflows.policy import Policy
from workflows.triage import anomalies, opening_severity

# Update name → what the agent is doing, for messages.
STEPS = {
    "acknowledge": "acknowledge",
    "record_fix": "record a fix",
    "compensate": "compensate",
    "approve_compensation": "approve compensation",
    "complete_follow_up": "complete the follow-up",
    "close": "close",
    "pause": "pause",
    "resume": "resume",
    "change_severity": "change severity",
    "apply_policy": "apply a policy",
}


STEP_RESULT_WAIT = timedelta(minutes=5)


class CaseError(Exception):
    """A step the engine refused, or a case that can't be reached. `code` is the rejection kind:
    out_of_order, closed, forbidden, invalid, conflict, not_ready, not_found, unavailable."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


async def open_case(client: Client, ticket: TicketEvent, policy: Policy, task_queue: str) -> ContactResult:
    """Start the case's workflow or add the ticket to it: one atomic update-with-start."""
    workflow_id = workflow_id_for(ticket.case_key)
    severity = opening_severity(ticket, policy, anomalies(ticket, policy)).value
    start = WithStartWorkflowOperation(
        ComplaintWorkflow.run,
        CaseStart(ticket=ticket, policy=policy),
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"Case {ticket.case_key} · {ticket.customer.name} · {severity}",
        static_details=_details(ticket),
        search_attributes=TypedSearchAttributes([
            SearchAttributePair(sa.RECOVERY_STEP, "acknowledge"),
            SearchAttributePair(sa.RECOVERY_SEVERITY, severity),
            SearchAttributePair(sa.ESCALATION_LEVEL, 0),
            SearchAttributePair(sa.CUSTOMER_ID, ticket.customer.id),
            SearchAttributePair(sa.TICKET_SOURCE, ticket.source),
        ]),
    )
    try:
        return await client.execute_update_with_start_workflow(
            ComplaintWorkflow.add_contact, ContactInput(ticket=ticket), start_workflow_operation=start,
            result_type=ContactResult,
        )
    except (WorkflowUpdateFailedError, RPCError) as err:
        raise _case_error(err, workflow_id) from None


def _details(ticket: TicketEvent) -> str:
    lines = [f"**Subject:** {ticket.subject}", f"**Ticket:** {ticket.source} {ticket.ticket_id}"]
    if ticket.url:
        lines.append(f"**Link:** {ticket.url}")
    if ticket.order:
        lines.append(f"**Order:** {ticket.order.id}")
    return "\n\n".join(lines)


async def run_step(client: Client, case: str, update: str, inp: Any) -> CaseStatus:
    """Run one of the agents' update steps and return the case's new status."""
    workflow_id = workflow_id_for(case)
    handle = client.get_workflow_handle(workflow_id)
    try:
        # Accepted (or rejected by the validator) first; then wait for the result, however long the
        # step's activities take (a payment provider retrying, a worker restarting).
        accepted = await handle.start_update(update, inp, wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                                             result_type=CaseStatus)
        deadline = time.monotonic() + STEP_RESULT_WAIT.total_seconds()
        while True:
            try:
                return await accepted.result()
            except WorkflowUpdateRPCTimeoutOrCancelledError:
                if time.monotonic() > deadline:
                    raise CaseError("unavailable", f"the step was accepted but had not finished after "
                                    f"{STEP_RESULT_WAIT}; it will complete — check the case later") from None
    except (WorkflowUpdateFailedError, RPCError) as err:
        raise _case_error(err, workflow_id) from None


async def status(client: Client, case: str) -> CaseStatus:
    workflow_id = workflow_id_for(case)
    try:
        return await client.get_workflow_handle(workflow_id).query(ComplaintWorkflow.status)
    except RPCError as err:
        raise _case_error(err, workflow_id) from None


async def timeline(client: Client, case: str) -> list[DomainEvent]:
    workflow_id = workflow_id_for(case)
    try:
        return await client.get_workflow_handle(workflow_id).query(ComplaintWorkflow.timeline)
    except RPCError as err:
        raise _case_error(err, workflow_id) from None


def _case_error(err: Exception, workflow_id: str) -> CaseError:
    if isinstance(err, WorkflowUpdateFailedError):
        cause = err.cause
        if isinstance(cause, ApplicationError):
            return CaseError(cause.type or "invalid", cause.message)
        # A payload the workflow could not decode is bad input, not a server fault.
        return CaseError("invalid", str(cause.message if hasattr(cause, "message") else cause))
    assert isinstance(err, RPCError)
    if err.status == RPCStatusCode.NOT_FOUND:
        if "completed" in err.message or "closed" in err.message.lower():
            return CaseError("closed", f"case {workflow_id} is closed")
        return CaseError("not_found", f"no case {workflow_id}")
    if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return CaseError("unavailable", f"Temporal is unreachable: {err.message}")
    return CaseError("unavailable", f"Temporal refused the call: {err.message}")

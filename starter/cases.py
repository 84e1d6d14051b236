"""Client-side operations on complaint workflows, shared by the CLI and the HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from pydantic import BaseModel
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from workflows import search_attributes as sa
from workflows.complaint import CaseStart, ComplaintWorkflow
from workflows.models import CaseStatus, ContactInput, ContactResult, DomainEvent, TicketEvent, case_id_of, workflow_id_for
from workflows.policy import Policy
from workflows.rules import PolicySet, RuleMatch
from workflows.triage import anomalies, opening_severity

STEP_RESULT_WAIT = timedelta(minutes=5)
MAX_GENERATIONS = 100


class CaseError(Exception):
    """A step the engine refused, or a case that can't be reached. `code` is the rejection kind:
    out_of_order, closed, forbidden, invalid, conflict, not_ready, not_found, unavailable."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


async def open_case(client: Client, ticket: TicketEvent, policy: Policy | PolicySet, task_queue: str) -> ContactResult:
    """Start the case's workflow or add the ticket to it: one atomic update-with-start.

    A closed case's workflow is never started again (its sequence numbers key notifications, the
    ledger and the event store): a redelivered event is a duplicate of it, and a new complaint about
    the same customer and order opens the next generation, `complaint-<case key>~2`, `~3`, …

    Given a policy set, its rules choose the policy; the match is recorded in the `opened` event."""
    policies = policy if isinstance(policy, PolicySet) else PolicySet.single(policy)
    chosen, rule = policies.select(ticket)
    for generation in range(1, MAX_GENERATIONS + 1):
        workflow_id = workflow_id_for(ticket.case_key, generation)
        try:
            return await _update_with_start(client, ticket, chosen, rule, task_queue, workflow_id)
        except WorkflowAlreadyStartedError:
            closed = await _closed_case_contact(client, workflow_id, ticket.event_id)
            if closed is not None:
                return closed
        except (WorkflowUpdateFailedError, RPCError) as err:
            raise _case_error(err, workflow_id) from None
    raise CaseError("conflict", f"case {ticket.case_key} has been opened and closed {MAX_GENERATIONS} times")


async def _update_with_start(client: Client, ticket: TicketEvent, policy: Policy, rule: RuleMatch,
                             task_queue: str, workflow_id: str) -> ContactResult:
    severity = opening_severity(ticket, policy, anomalies(ticket, policy)).value
    case_id = case_id_of(workflow_id)
    start = WithStartWorkflowOperation(
        ComplaintWorkflow.run,
        CaseStart(ticket=ticket, policy=policy, rule=rule),
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        static_summary=f"Case {case_id} · {ticket.customer.name} · {severity}",
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
        # The SDK types an async update method as returning its coroutine; the call is right.
        return await client.execute_update_with_start_workflow(  # type: ignore[call-overload]
            ComplaintWorkflow.add_contact, ContactInput(ticket=ticket), start_workflow_operation=start,
            result_type=ContactResult,
        )
    except WorkflowAlreadyStartedError:
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await start.workflow_handle()  # retrieve the operation's own copy of the error: no stray warning
        raise


async def _closed_case_contact(client: Client, workflow_id: str, event_id: str) -> ContactResult | None:
    """The answer for `event_id` if the closed case `workflow_id` already has it, else None."""
    handle = client.get_workflow_handle(workflow_id)
    events = await handle.query(ComplaintWorkflow.timeline)
    seen = {e.data.get("event_id") for e in events if e.type in ("opened", "contact_added")}
    if event_id not in seen:
        return None
    final = await handle.query(ComplaintWorkflow.status)
    return ContactResult(case_id=final.case_id, workflow_id=workflow_id, created=False, duplicate=True,
                         contact_count=final.contact_count)


def _details(ticket: TicketEvent) -> str:
    lines = [f"**Subject:** {ticket.subject}", f"**Ticket:** {ticket.source} {ticket.ticket_id}"]
    if ticket.url:
        lines.append(f"**Link:** {ticket.url}")
    if ticket.order:
        lines.append(f"**Order:** {ticket.order.id}")
    return "\n\n".join(lines)


async def accept_step(client: Client, case: str, update: Callable[..., Any], inp: BaseModel,
                      wait: float = 5.0) -> bool:
    """Run one update step for a webhook sender, who must get an answer within seconds: True when it
    completed within `wait`, False when accepted and still running (its messages are going out).
    Raises CaseError when the case refuses it, by its validator or by the check under its lock."""
    workflow_id = workflow_id_for(case)
    try:
        accepted = await client.get_workflow_handle(workflow_id).start_update(  # type: ignore[call-overload]
            update, inp, wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=CaseStatus)
        try:
            await asyncio.wait_for(accepted.result(), timeout=wait)
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            return False
        return True
    except (WorkflowUpdateFailedError, RPCError) as err:
        raise _case_error(err, workflow_id) from None


async def run_step(client: Client, case: str, update: Callable[..., Any], inp: BaseModel) -> CaseStatus:
    """Run one of the agents' update steps (`ComplaintWorkflow.acknowledge`, … — see `starter.steps`)
    and return the case's new status."""
    workflow_id = _case_workflow_id(case)
    handle = client.get_workflow_handle(workflow_id)
    try:
        # Accepted (or rejected by the validator) first; then wait for the result, however long the
        # step's activities take (a payment provider retrying, a worker restarting).
        for attempt in range(1, 4):
            try:
                # (the SDK's overloads do not cover a method reference typed as a plain callable)
                accepted = await handle.start_update(  # type: ignore[call-overload]
                    update, inp, wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=CaseStatus)
                break
            except RPCError as err:
                # The workflow task carrying the update failed (e.g. a worker overloaded past the
                # SDK's deadlock detector): the update was never accepted, so asking again is safe.
                if "workflow task failure" not in err.message or attempt == 3:
                    raise
                await asyncio.sleep(0.5 * attempt)
        deadline = time.monotonic() + STEP_RESULT_WAIT.total_seconds()
        while True:
            try:
                return await accepted.result()
            except WorkflowUpdateRPCTimeoutOrCancelledError as err:
                if isinstance(err.__cause__, asyncio.CancelledError):
                    # Our caller was cancelled (a stopping API): stop waiting, don't poll on.
                    raise asyncio.CancelledError() from None
                if time.monotonic() > deadline:
                    raise CaseError("unavailable", f"the step was accepted but had not finished after "
                                    f"{STEP_RESULT_WAIT}; it will complete — check the case later") from None
    except (WorkflowUpdateFailedError, RPCError) as err:
        raise _case_error(err, workflow_id) from None


async def status(client: Client, case: str) -> CaseStatus:
    workflow_id = _case_workflow_id(case)
    try:
        return await client.get_workflow_handle(workflow_id).query(ComplaintWorkflow.status)
    except RPCError as err:
        raise _case_error(err, workflow_id) from None


async def timeline(client: Client, case: str) -> list[DomainEvent]:
    workflow_id = _case_workflow_id(case)
    try:
        return await client.get_workflow_handle(workflow_id).query(ComplaintWorkflow.timeline)
    except RPCError as err:
        raise _case_error(err, workflow_id) from None


CASE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@:~-]{0,199}$"
"""A case key (customer:order, source:ticket, with ~N for a later generation) or a workflow id."""
_CASE = re.compile(CASE_ID_PATTERN)


def _case_workflow_id(case: str) -> str:
    """The workflow id of a case key or workflow id typed by a person; anything that can't be one is
    refused here, before Temporal sees it."""
    if not _CASE.match(case):
        raise CaseError("invalid", f"{case[:100]!r} is not a case key (customer:order or source:ticket) "
                        "or a workflow id")
    return workflow_id_for(case)


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
    if err.status == RPCStatusCode.INVALID_ARGUMENT:
        return CaseError("invalid", f"Temporal refused the request as invalid: {err.message}")
    if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return CaseError("unavailable", f"Temporal is unreachable: {err.message}")
    return CaseError("unavailable", f"Temporal refused the call: {err.message}")

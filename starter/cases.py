"""Client-side operations on complaint workflows, shared by the CLI and the HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog
from pydantic import BaseModel
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
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
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from recovery.codec import EncryptionCodec
from starter.server_errors import CaseError as CaseError  # its home is server_errors; imported from here too
from starter.server_errors import case_error, contact_retry, moving, query_error, rejection, task_failed
from workflows import search_attributes as sa
from workflows.case import Case
from workflows.complaint import CaseStart, ComplaintWorkflow
from workflows.models import (
    CaseStatus,
    ContactInput,
    ContactResult,
    DomainEvent,
    TicketEvent,
    case_id_of,
    workflow_id_for,
)
from workflows.policy import Clock, Policy
from workflows.rules import PolicySet, RuleMatch
from workflows.triage import anomalies, opening_severity

log = structlog.get_logger("cases")

STEP_RESULT_WAIT = timedelta(minutes=5)
MAX_GENERATIONS = 100
MOVING_RETRIES = 60
"""How often a call is retried while the case moves to a new run (continue-as-new) — seconds' worth."""

Database = Callable[[], Awaitable[Any]]
"""Returns the asyncpg pool of the event store (lazily created), for what Temporal may have forgotten."""


async def open_case(
    client: Client, ticket: TicketEvent, policy: Policy | PolicySet, task_queue: str, database: Database | None = None
) -> ContactResult:
    """Start the case's workflow or add the ticket to it: one atomic update-with-start.

    A closed case's workflow is never started again (its sequence numbers key notifications, the
    ledger and the event store): a redelivered event is a duplicate of it, and a new complaint about
    the same customer and order opens the next generation, `complaint-<case key>~2`, `~3`, … — also
    while the closed case's workflow is still finishing (it turns new complaints away as `closed`),
    and also once Temporal's retention has purged it: with `database`, a generation the event store
    knows but Temporal does not is never reused.

    Given a policy set, its rules choose the policy; the match is recorded in the `opened` event."""
    refuse_control_characters(ticket)
    policies = policy if isinstance(policy, PolicySet) else PolicySet.single(policy)
    chosen, rule = policies.select(ticket)
    for generation in range(1, MAX_GENERATIONS + 1):
        workflow_id = workflow_id_for(ticket.case_key, generation)
        if database is not None and await _purged(client, database, workflow_id):
            continue
        # One update id for every attempt: an attempt the case applied although its answer was lost
        # (the run continued as new meanwhile) is recognised by it in the next run, with its answer.
        update_id = f"contact-{uuid.uuid4()}"
        for attempt in range(MOVING_RETRIES):
            try:
                return await _update_with_start(client, ticket, chosen, rule, task_queue, workflow_id, update_id)
            except WorkflowAlreadyStartedError:
                closed = await _closed_case_contact(client, workflow_id, ticket.event_id)
                if closed is not None:
                    return closed
                break  # closed, and this is a new complaint: the next generation
            except (WorkflowUpdateFailedError, RPCError) as err:
                if rejection(err) == "closed":
                    break  # the closed case is still finishing; the complaint is not one of its events
                if contact_retry(err) and attempt < MOVING_RETRIES - 1:
                    if task_failed(err):  # never applied; the server keeps the aborted update under its id
                        update_id = f"contact-{uuid.uuid4()}"
                    await asyncio.sleep(min(0.05 * (attempt + 1), 1.0))
                    continue
                raise case_error(err, workflow_id) from None
    raise CaseError("conflict", f"case {ticket.case_key} has been opened and closed {MAX_GENERATIONS} times")


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def refuse_control_characters(ticket: TicketEvent) -> None:
    """Every intake path opens cases here: a control character (NUL above all, which PostgreSQL
    cannot store) is refused with the field named, before anything is started. (Checked here, not
    in the TicketEvent model, so histories that already hold one still decode and replay.)"""

    def walk(value: Any, where: str) -> None:
        if isinstance(value, str):
            found = _CONTROL.search(value)
            if found:
                raise CaseError("invalid", f"{where}: control character U+{ord(found.group()):04X} is not allowed")
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{where}.{key}" if where else str(key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{where}.{index}")

    walk(ticket.model_dump(mode="json"), "")


async def _purged(client: Client, database: Database, workflow_id: str) -> bool:
    """True when the event store has this workflow id but Temporal no longer knows it (retention)."""
    try:
        pool = await database()
        known = await pool.fetchval("SELECT 1 FROM events WHERE workflow_id = $1 LIMIT 1", workflow_id)
    except Exception as err:  # intake stays up while PostgreSQL is down
        # Only a case purged by retention AND a database outage at once could reuse its id.
        log.warning(
            "event store unreachable; generation checked in Temporal only",
            workflow_id=workflow_id,
            error=f"{type(err).__name__}: {err}",
        )
        return False
    if known is None:
        return False
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return True
        raise case_error(err, workflow_id) from None
    return False


async def _update_with_start(
    client: Client,
    ticket: TicketEvent,
    policy: Policy,
    rule: RuleMatch,
    task_queue: str,
    workflow_id: str,
    update_id: str | None = None,
) -> ContactResult:
    severity = opening_severity(ticket, policy, anomalies(ticket, policy)).value
    case_id = case_id_of(workflow_id)
    # The opening deadline from the same pure step machine at the moment given to the workflow: the
    # start's search attributes are then the first run's, and it upserts none of them (lean-actions).
    opened_at = datetime.now(UTC)
    opening = Case.open(ticket, policy, workflow_id, opened_at, rule, effects=False)
    due = opening.status(opened_at).deadlines.due_at
    start = WithStartWorkflowOperation(
        ComplaintWorkflow.run,
        CaseStart(ticket=ticket, policy=policy, rule=rule, opened_at=opened_at),
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        static_summary=f"Case {case_id} · {ticket.customer.name} · {severity}",
        static_details=_details(ticket),
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.RECOVERY_STEP, "acknowledge"),
                SearchAttributePair(sa.RECOVERY_SEVERITY, severity),
                SearchAttributePair(sa.ESCALATION_LEVEL, 0),
                SearchAttributePair(sa.CUSTOMER_ID, ticket.customer.id),
                SearchAttributePair(sa.TICKET_SOURCE, ticket.source),
                *([SearchAttributePair(sa.NEXT_DEADLINE, due)] if due is not None else []),
            ]
        ),
    )
    try:
        # The SDK types an async update method as returning its coroutine; the call is right.
        return await client.execute_update_with_start_workflow(  # type: ignore[call-overload]
            ComplaintWorkflow.add_contact,
            ContactInput(ticket=ticket),
            id=update_id,
            start_workflow_operation=start,
            result_type=ContactResult,
        )
    except WorkflowAlreadyStartedError:
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await start.workflow_handle()  # retrieve the operation's own copy of the error: no stray warning
        raise


async def _closed_case_contact(client: Client, workflow_id: str, event_id: str) -> ContactResult | None:
    """The answer for `event_id` if the closed case `workflow_id` already has it, else None."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        seen = await handle.query(ComplaintWorkflow.seen_event, event_id)
        if not seen:
            return None
        final = await handle.query(ComplaintWorkflow.status)
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError, RPCError) as err:
        raise query_error(err, workflow_id) from None
    return ContactResult(
        case_id=final.case_id, workflow_id=workflow_id, created=False, duplicate=True, contact_count=final.contact_count
    )


def _details(ticket: TicketEvent) -> str:
    lines = [f"**Subject:** {ticket.subject}", f"**Ticket:** {ticket.source} {ticket.ticket_id}"]
    if ticket.url:
        lines.append(f"**Link:** {ticket.url}")
    if ticket.order:
        lines.append(f"**Order:** {ticket.order.id}")
    return "\n\n".join(lines)


async def accept_step(client: Client, case: str, update: Callable[..., Any], inp: BaseModel, wait: float = 5.0) -> bool:
    """Run one update step for a webhook sender, who must get an answer within seconds: True when it
    completed within `wait`, False when accepted and still running (its messages are going out).
    Raises CaseError when the case refuses it, by its validator or by the check under its lock."""
    workflow_id = workflow_id_for(case)
    try:
        accepted = await client.get_workflow_handle(workflow_id).start_update(  # type: ignore[call-overload]
            update, inp, wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=CaseStatus
        )
        try:
            await asyncio.wait_for(accepted.result(), timeout=wait)
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            return False
        return True
    except (WorkflowUpdateFailedError, RPCError) as err:
        raise case_error(err, workflow_id) from None


async def run_step(client: Client, case: str, update: Callable[..., Any], inp: BaseModel) -> CaseStatus:
    """Run one of the agents' update steps (`ComplaintWorkflow.acknowledge`, … — see `starter.steps`)
    and return the case's new status."""
    workflow_id = _case_workflow_id(case)
    handle = client.get_workflow_handle(workflow_id)
    try:
        # Accepted (or rejected by the validator) first; then wait for the result, however long the
        # step's activities take (a payment provider retrying, a worker restarting).
        failures = 0
        for attempt in range(1, MOVING_RETRIES + 1):
            try:
                # (the SDK's overloads do not cover a method reference typed as a plain callable)
                accepted = await handle.start_update(  # type: ignore[call-overload]
                    update, inp, wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=CaseStatus
                )
                break
            except (WorkflowUpdateFailedError, RPCError) as err:
                if attempt < MOVING_RETRIES and moving(err) and await _still_running(handle):
                    # Turned away (or reached the old run) while the case continues as new: never
                    # accepted there, so the new run is asked.
                    await asyncio.sleep(min(0.05 * attempt, 1.0))
                    continue
                # The workflow task carrying the update failed (e.g. a worker overloaded past the
                # SDK's deadlock detector): the update was never accepted, so asking again is safe.
                if not isinstance(err, RPCError) or "workflow task failure" not in err.message or failures == 2:
                    raise
                failures += 1
                await asyncio.sleep(0.5 * failures)
        deadline = time.monotonic() + STEP_RESULT_WAIT.total_seconds()
        while True:
            try:
                return await accepted.result()
            except WorkflowUpdateRPCTimeoutOrCancelledError as err:
                if isinstance(err.__cause__, asyncio.CancelledError):
                    # Our caller was cancelled (a stopping API): stop waiting, don't poll on.
                    raise asyncio.CancelledError() from None
                if time.monotonic() > deadline:
                    raise CaseError(
                        "unavailable",
                        f"the step was accepted but had not finished after "
                        f"{STEP_RESULT_WAIT}; it will complete — check the case later",
                    ) from None
    except (WorkflowUpdateFailedError, RPCError) as err:
        raise case_error(err, workflow_id) from None


async def _still_running(handle: Any) -> bool:
    """Whether the case's latest run is open (a `completed` answer was the old run of a continue-as-new)."""
    try:
        described = await handle.describe()
    except RPCError:
        return False
    return bool(described.status == WorkflowExecutionStatus.RUNNING)


async def status(client: Client, case: str) -> CaseStatus:
    workflow_id = _case_workflow_id(case)
    try:
        return await client.get_workflow_handle(workflow_id).query(ComplaintWorkflow.status)
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError, RPCError) as err:
        raise query_error(err, workflow_id) from None


async def timeline(client: Client, case: str, database: Database | None = None) -> list[DomainEvent]:
    """The case's domain events. A long case's run holds only its recent ones (continue-as-new
    carries no projected events); with `database` the earlier ones come from the event store."""
    workflow_id = _case_workflow_id(case)
    try:
        events = await client.get_workflow_handle(workflow_id).query(ComplaintWorkflow.timeline)
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError, RPCError) as err:
        raise query_error(err, workflow_id) from None
    if database is not None and (not events or events[0].seq > 1):
        from activities.store.projection import stored_events

        pool = await database()
        async with pool.acquire() as conn:
            stored = await stored_events(conn, workflow_id)
        merged = {e.seq: e for e in stored} | {e.seq: e for e in events}
        events = [merged[seq] for seq in sorted(merged)]
    return events


async def read_case(
    database: Database, case: str, policies: Iterable[Policy], codec: EncryptionCodec | None = None
) -> tuple[CaseStatus, list[DomainEvent]] | None:
    """The case's status and timeline from the read model, as of its last stored event: no query (each
    is a worker round trip, and a billable action on Temporal Cloud). None when the read model cannot
    answer: PostgreSQL unreachable, the case not stored yet, or a running business clock of a policy not
    among `policies` (its remaining time needs that calendar) — then ask the workflow."""
    from activities.store.projection import stored_events, stored_status

    workflow_id = _case_workflow_id(case)
    try:
        pool = await database()
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await stored_status(conn, workflow_id)
            events = await stored_events(conn, workflow_id, codec) if snapshot is not None else []
    except (OSError, asyncpg.PostgresError) as err:
        log.warning("read model unavailable, asking the workflow", workflow_id=workflow_id, error=str(err))
        return None
    if snapshot is None:
        return None
    current = as_of(snapshot, policies, datetime.now(UTC))
    return None if current is None else (current, events)


def as_of(snapshot: CaseStatus, policies: Iterable[Policy], now: datetime) -> CaseStatus | None:
    """A stored status with its running clock's remaining budget at `now` (the only field that moves
    between events); None if that needs a calendar not among `policies`."""
    deadlines = snapshot.deadlines
    if snapshot.paused or deadlines.due_at is None or deadlines.remaining_seconds is None:
        return snapshot  # a stopped or finished clock: as stored
    if deadlines.clock == "wall":
        clock = Clock(None)
    else:
        policy = next((p for p in policies if f"{p.name}@{p.version}" == snapshot.policy), None)
        if policy is None:
            return None
        clock = policy.clock(snapshot.severity)
    due = deadlines.due_at
    left = clock.elapsed(now, due) if now <= due else -clock.elapsed(due, now)
    return snapshot.model_copy(update={"deadlines": deadlines.model_copy(update={"remaining_seconds": round(left, 3)})})


CASE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@:~-]{0,199}$"
"""A case key (customer:order, source:ticket, with ~N for a later generation) or a workflow id."""
_CASE = re.compile(CASE_ID_PATTERN)


def _case_workflow_id(case: str) -> str:
    """The workflow id of a case key or workflow id typed by a person; anything that can't be one is
    refused here, before Temporal sees it."""
    if not _CASE.match(case):
        raise CaseError(
            "invalid", f"{case[:100]!r} is not a case key (customer:order or source:ticket) or a workflow id"
        )
    return workflow_id_for(case)

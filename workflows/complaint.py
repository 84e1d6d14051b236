"""ComplaintWorkflow: one durable workflow per complaint, enforcing
acknowledge → fix → compensate → follow-up → close with deadlines and an escalation ladder.

The rules live in the pure step machine (`workflows.case`); this module is the Temporal shell's
class: handlers validate and apply agents' steps. The rest of the shell (the outbox drained through
activities, the projector, the UI's search attributes and details, the timer loops) lives in
`workflows.shell`, imported passed through: the sandbox re-executes this module for every run, so
it is kept small (each cached case holds its own copy), while passed-through modules are shared.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows import search_attributes as sa
    from workflows.case import Case, Rejection
    from workflows.models import (
        AcknowledgeInput,
        ApplyPolicyInput,
        ApprovalInput,
        AssignInput,
        CaseStatus,
        ChangeSeverityInput,
        CloseInput,
        CompensateInput,
        ContactInput,
        ContactResult,
        CustomerMessageInput,
        DomainEvent,
        FixInput,
        FollowUpInput,
        IgnoredEventInput,
        PauseInput,
        ResumeInput,
        TicketEvent,
    )
    from workflows.shell import delivery, lifecycle, publishing
    from workflows.shell.start import (
        COMPACT,
        CONTACTS_ACROSS_RUNS,
        LEAN,
        MOVING,
        NAMED_RULES,
        OPENED_AT_TOLERANCE,
        CaseStart,
        UnknownRules,
    )

__all__ = ["COMPACT", "LEAN", "MOVING", "CaseStart", "ComplaintWorkflow"]

T = TypeVar("T")


@workflow.defn(name="ComplaintWorkflow")
class ComplaintWorkflow:
    @workflow.init
    def __init__(self, start: CaseStart) -> None:
        # Decided here, not in run: the update of update-with-start drains the outbox before run starts.
        # Named by the start (no patch marker, no TemporalChangeVersion upsert), else by patches.
        if start.rules is not None and start.rules not in NAMED_RULES:
            raise UnknownRules(f"the start names rules {start.rules!r}, which this worker does not know")
        self._rules = start.rules
        self._lean = start.rules is not None or workflow.patched(LEAN)
        if self._lean and self._rules is None:
            self._rules = LEAN  # a continued run names them
        self._compact = start.rules == COMPACT
        self._published: dict[str, Any] = {}
        if start.state is not None:
            self.case = Case(start.state)
        else:
            opened = workflow.now()
            # The client's moment, if it is a plausible one (not ahead of this task, at most seconds
            # behind): then its NextDeadline matches ours. Starts without it open as before.
            if self._lean and start.opened_at is not None and opened - OPENED_AT_TOLERANCE <= start.opened_at <= opened:
                opened = start.opened_at
            self.case = Case.open(start.ticket, start.policy, workflow.info().workflow_id, opened, start.rule)
        if self._lean:
            # What the start (or the run continued from) already shows need not be upserted again.
            current = workflow.info().typed_search_attributes
            for key in sa.ALL:
                value = current.get(key)
                if value is not None:
                    self._published[key.name] = value
        self._lock = asyncio.Lock()
        self._changes = 0
        self._logged_seq = self.case.state.seq if start.state is not None else 0
        self._projecting = False
        self._robust = False
        self._moving = False
        self._updates = 0
        self._dirty = False
        """A change not yet shown in the UI (lean-actions: shown once the workflow task's coroutines yield)."""
        self._hold = 0
        self._queued = 0
        """Agents' steps and contacts waiting for the lock: a timer's catch-up yields to them."""
        """Plans (and issues, whose outcome a plan follows) in flight: the projector waits, they carry the events."""
        self._sending_upto = 0
        """The highest sequence handed to a store in flight (projector batch or carried)."""
        self._answers = False
        # The SDK starts the handlers of updates in a run's first workflow task before `run`: a
        # contact arriving with the new run of a continue-as-new (a caller's retry, or the server
        # applying again an update completed in the old run's last task) was added with the rules of
        # old histories, past the de-duplication window, and counted twice. Since CONTACTS_ACROSS_RUNS
        # the rules are decided here, before any handler, and a contact's update id is remembered so
        # the same update gets the same answer in the next run. LEAN implies it.
        if self._lean or workflow.patched(CONTACTS_ACROSS_RUNS):
            self._answers = True
            self._decide_rules()

    def _decide_rules(self) -> None:
        lifecycle.decide_rules(self)

    @workflow.run
    async def run(self, start: CaseStart) -> CaseStatus:
        return await lifecycle.run(self)

    # ---- queries ---------------------------------------------------------------------------

    @workflow.query(
        description="Current step, severity, deadlines, escalation level, contacts, pause and compensation."
    )
    def status(self) -> CaseStatus:
        return self.case.status(workflow.now())

    @workflow.query(
        description="The domain events this run holds, in order (a long case keeps only its recent "
        "ones across continue-as-new; the event store has every one)."
    )
    def timeline(self) -> list[DomainEvent]:
        return list(self.case.state.events)

    @workflow.query(description="Whether this case already has the ticket event with this id (de-duplication).")
    def seen_event(self, event_id: str) -> bool:
        return self.case.has_seen(event_id)

    # ---- agents' steps ---------------------------------------------------------------------

    @workflow.update(
        description="A ticket event about this case: opens it, or adds a repeat contact. "
        "The same event id twice changes nothing."
    )
    async def add_contact(self, inp: ContactInput) -> ContactResult:
        self._updates += 1
        if self._robust:
            # Applied at once (a synchronous change of the step machine), then the outbox is drained:
            # concurrent contacts share one drain, their notifications sent side by side.
            result: list[ContactResult] = []
            self._check(lambda: result.append(self._add_contact(inp.ticket)))
            self._changes += 1
            self._queued += 1
            async with self._lock:
                self._queued -= 1
                await self._drain()
            return result[0]
        async with self._lock:
            results: list[ContactResult] = []
            self._check(lambda: results.append(self.case.add_contact(inp.ticket, workflow.now())))
            await self._after_change()
        return results[0]

    def _add_contact(self, ticket: TicketEvent) -> ContactResult:
        return lifecycle.add_contact_once(self, ticket)

    @add_contact.validator
    def _validate_add_contact(self, inp: ContactInput) -> None:
        self._admit(self.case.check_add_contact, inp.ticket)

    @workflow.update(
        description="The customer replied on the ticket: recorded; resumes a paused case, "
        "else counts as a repeat contact. The same event id twice changes nothing."
    )
    async def customer_message(self, inp: CustomerMessageInput) -> CaseStatus:
        return await self._step(self.case.customer_message, inp)

    @customer_message.validator
    def _validate_customer_message(self, inp: CustomerMessageInput) -> None:
        self._admit(self.case.check_customer_message, inp)

    @workflow.update(description="Record a ticket event whose rule's step the case refused, with the reason.")
    async def record_ignored(self, inp: IgnoredEventInput) -> CaseStatus:
        return await self._step(self.case.record_ignored, inp)

    @workflow.update(description="Acknowledge the complaint and apologise; the customer is told the next promise.")
    async def acknowledge(self, inp: AcknowledgeInput) -> CaseStatus:
        return await self._step(self.case.acknowledge, inp)

    @acknowledge.validator
    def _validate_acknowledge(self, inp: AcknowledgeInput) -> None:
        self._admit(self.case.check_acknowledge, inp)

    @workflow.update(description="Record the fix for the customer's problem.")
    async def record_fix(self, inp: FixInput) -> CaseStatus:
        return await self._step(self.case.record_fix, inp)

    @record_fix.validator
    def _validate_record_fix(self, inp: FixInput) -> None:
        self._admit(self.case.check_record_fix, inp)

    @workflow.update(
        description="Propose compensation: issued at once within the agent's authority, "
        "otherwise it waits for approval by someone else."
    )
    async def compensate(self, inp: CompensateInput) -> CaseStatus:
        return await self._step(self.case.compensate, inp)

    @compensate.validator
    def _validate_compensate(self, inp: CompensateInput) -> None:
        self._admit(lambda: self.case.check_compensate(inp, workflow.now()))

    @workflow.update(description="Approve or reject the compensation waiting for approval (not one's own).")
    async def approve_compensation(self, inp: ApprovalInput) -> CaseStatus:
        return await self._step(self.case.decide_approval, inp)

    @approve_compensation.validator
    def _validate_approval(self, inp: ApprovalInput) -> None:
        self._admit(self.case.check_approval, inp)

    @workflow.update(description="Record the customer's answer to the follow-up; unsatisfied reopens the case at fix.")
    async def complete_follow_up(self, inp: FollowUpInput) -> CaseStatus:
        return await self._step(self.case.complete_follow_up, inp)

    @complete_follow_up.validator
    def _validate_follow_up(self, inp: FollowUpInput) -> None:
        self._admit(self.case.check_follow_up, inp)

    @workflow.update(description="Close the case with a root cause from the policy and a note.")
    async def close(self, inp: CloseInput) -> CaseStatus:
        return await self._step(self.case.close, inp)

    @close.validator
    def _validate_close(self, inp: CloseInput) -> None:
        self._admit(self.case.check_close, inp)

    @workflow.update(description="Pause while waiting on the customer: deadlines stop, elapsed time is kept.")
    async def pause(self, inp: PauseInput) -> CaseStatus:
        return await self._step(self.case.pause, inp)

    @pause.validator
    def _validate_pause(self, inp: PauseInput) -> None:
        self._admit(self.case.check_pause, inp)

    @workflow.update(description="Resume a paused case: deadlines run again from where they stopped.")
    async def resume(self, inp: ResumeInput) -> CaseStatus:
        return await self._step(self.case.resume, inp)

    @resume.validator
    def _validate_resume(self, inp: ResumeInput) -> None:
        self._admit(self.case.check_resume, inp)

    @workflow.update(
        description="Give the case an owner: claim it, assign it to an agent, or (its owner or a lead) "
        "hand it to someone else. Warnings and repeat contacts then go to the owner."
    )
    async def assign(self, inp: AssignInput) -> CaseStatus:
        return await self._step(self.case.assign, inp)

    @assign.validator
    def _validate_assign(self, inp: AssignInput) -> None:
        self._admit(self.case.check_assign, inp)

    @workflow.update(description="Change the severity: deadlines are recomputed, elapsed time is kept.")
    async def change_severity(self, inp: ChangeSeverityInput) -> CaseStatus:
        return await self._step(self.case.change_severity, inp)

    @change_severity.validator
    def _validate_change_severity(self, inp: ChangeSeverityInput) -> None:
        self._admit(self.case.check_change_severity, inp)

    @workflow.update(description="Apply a new policy to this in-flight case (new cases get it automatically).")
    async def apply_policy(self, inp: ApplyPolicyInput) -> CaseStatus:
        return await self._step(self.case.apply_policy, inp)

    @apply_policy.validator
    def _validate_apply_policy(self, inp: ApplyPolicyInput) -> None:
        self._admit(self.case.check_apply_policy, inp)
        self._admit(self.case.check_may_apply_policy, inp)

    # ---- internals -------------------------------------------------------------------------

    # Handlers pass the step machine's bound method and its arguments rather than a lambda: every
    # code object here is copied per cached case (see the module's docstring).
    def _admit(self, check: Callable[..., object], *args: Any) -> None:
        """A validator: turn the update away while the run is moving to a new one, else check it."""
        if self._moving:
            raise ApplicationError("the case is moving to a new run; retry", type=MOVING, non_retryable=True)
        self._check(check, *args)

    @staticmethod
    def _check(check: Callable[..., object], *args: Any) -> None:
        try:
            check(*args)
        except Rejection as rejection:
            raise ApplicationError(rejection.message, type=rejection.code, non_retryable=True) from None

    async def _step(self, apply: Callable[[T, datetime], object], inp: T) -> CaseStatus:
        self._updates += 1
        self._queued += 1
        async with self._lock:
            self._queued -= 1
            # Checked again under the lock: another handler may have moved the case since validation.
            self._check(apply, inp, workflow.now())
            await self._after_change()
            return self.case.status(workflow.now())

    async def _after_change(self) -> None:
        self._changes += 1
        await self._drain()

    async def _drain(self) -> None:
        """Do the outbox's effects in order, then show the new state in the UI."""
        await delivery.drain(self)

    def _publish(self) -> None:
        if self._lean:
            self._dirty = True
        else:
            publishing.publish_now(self)

"""ComplaintWorkflow: one durable workflow per complaint, enforcing
acknowledge → fix → compensate → follow-up → close with deadlines and an escalation ladder.

The rules live in the pure step machine (`workflows.case`); this module is the Temporal shell:
handlers validate and apply agents' steps, a timer loop fires deadlines, and an outbox is
drained through activities.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from workflows import search_attributes as sa
    from workflows.case import Case, CaseState, Rejection, format_moment
    from workflows.models import (
        DELIVER,
        ISSUE_COMPENSATION,
        PLAN_AND_PROJECT,
        PLAN_DELIVERIES,
        PROJECT_EVENTS,
        SEND_NOTIFICATION,
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
        Delivery,
        DeliveryPlan,
        DeliveryReceipt,
        DomainEvent,
        Effect,
        FixInput,
        FollowUpInput,
        IgnoredEventInput,
        IssueResult,
        Notification,
        PauseInput,
        PlannedWithEvents,
        PlanWithEvents,
        ProjectionBatch,
        ResumeInput,
        TicketEvent,
    )
    from workflows.policy import Policy
    from workflows.rules import RuleMatch

T = TypeVar("T")

NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1), maximum_attempts=20
)
# A person's channel gives up after a few minutes, so the next person of the role is tried.
PERSON_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=["ChannelRejected"],
)
CUSTOMER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=30,
    non_retryable_error_types=["ChannelRejected"],
)
PROJECT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
ISSUE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=10,
    non_retryable_error_types=["CompensationDeclined"],
)
# Robust runs give up sooner: the outcome is then "unknown" and re-checked under the same key
# (Case.compensation_unknown), so a long provider outage neither wedges the case nor pays twice.
ISSUE_RETRY_ROBUST = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
    non_retryable_error_types=["CompensationDeclined"],
)
DECLINED = "CompensationDeclined"
POISON = "PoisonBatch"
"""A projection batch the event store can never take (the activity says so): skipped with an alert."""
MAX_UPDATES_PER_RUN = 500
"""Continue as new after this many updates, well below the server's 2,000 per run."""
LEAN = "lean-actions"
"""Fewer billable actions: events ride on the plan activity, one timer kept for the earliest wakeup,
the start's search attributes not upserted again. It implies every earlier patch, so a new run records
one patch marker and one TemporalChangeVersion upsert instead of six. Older histories replay without."""
OPENED_AT_TOLERANCE = timedelta(seconds=5)
CONTACTS_ACROSS_RUNS = "contacts-across-runs"
"""Patch: the rules are decided before the first task's update handlers; contacts' answers by update id."""
MOVING = "moving"
"""Update rejection while the run continues as new: the caller retries, reaching the new run."""


class CaseStart(BaseModel):
    """The workflow's input: the opening ticket and the policy snapshot, or (after
    continue-as-new) the whole state carried over."""

    ticket: TicketEvent
    policy: Policy
    state: CaseState | None = None
    rule: RuleMatch | None = None
    """The policy rule that chose `policy` (recorded in the `opened` event)."""
    opened_at: datetime | None = None
    """When the client opened the case (lean-actions): the opening deadline it put in the start's
    search attributes is computed from it, so the first run need not upsert it."""


@workflow.defn(name="ComplaintWorkflow")
class ComplaintWorkflow:
    @workflow.init
    def __init__(self, start: CaseStart) -> None:
        # Decided here, not in run: the update of update-with-start drains the outbox before run starts.
        self._lean = workflow.patched(LEAN)
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
        if self._lean:
            # Every patch costs a marker and a billable TemporalChangeVersion upsert per run (the SDK
            # upserts one for each patch a run calls): a lean run asks for none of the older ones.
            self._projecting = self.case.state.pause_budget = self._robust = True
            self.case.make_robust()
            return
        # Histories from before the event store have no projection: they replay without it.
        self._projecting = workflow.patched("project-events")
        # Histories from before the pause budget replay without it (their policies have no max_pause,
        # but a continued-as-new state must not start enforcing it either).
        self.case.state.pause_budget = workflow.patched("pause-budget")
        # Breach events, delivery-moved silence, bounded state, continue-as-new under load,
        # unknown compensation outcomes, poison batches: see Case.robust. Older histories replay without.
        self._robust = workflow.patched("robust-cases")
        if self._robust:
            self.case.make_robust()

    @workflow.run
    async def run(self, start: CaseStart) -> CaseStatus:
        if not self._answers:  # older histories decide the rules here, as they were recorded
            self._decide_rules()
        if self._lean:
            publisher = asyncio.create_task(self._publisher())
        if self._projecting:
            projector = asyncio.create_task(self._projector())
        async with self._lock:
            await self._drain()
        if self._lean:
            await self._lean_loop()
        while not self._lean:
            async with self._lock:  # a handler may be mid-drain: plan the next timer after it
                if self.case.closed:
                    break
                wakeup = self.case.next_wakeup()
                seen = self._changes
            timeout = None
            if wakeup is not None:
                timeout = max((wakeup.at - workflow.now()).total_seconds(), 0.001)
            try:
                await workflow.wait_condition(
                    lambda: self._changes != seen,
                    timeout=timeout,
                    timeout_summary=wakeup.summary if wakeup else None,
                )
            except asyncio.TimeoutError:
                assert wakeup is not None
                async with self._lock:
                    # Deadlines are decided at the moment the timer was set for, not workflow.now():
                    # the timer's firing is in history, but a task's time can differ between a live
                    # run and its replay (seen after a worker died with a task in flight).
                    self.case.tick(wakeup.at)
                    await self._drain()
            if self._robust and (
                workflow.info().is_continue_as_new_suggested() or self._updates >= MAX_UPDATES_PER_RUN
            ):
                await self._continue_as_new()
            if workflow.info().is_continue_as_new_suggested():
                # Unprojected events travel in the state: the next run's projector sends them.
                await workflow.wait_condition(workflow.all_handlers_finished)
                async with self._lock:
                    workflow.continue_as_new(
                        CaseStart(ticket=self.case.state.ticket, policy=self.case.policy, state=self.case.state)
                    )
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and self._projected() and not self._dirty
        )
        if self._projecting:
            projector.cancel()
        if self._lean:
            publisher.cancel()
        return self.case.status(workflow.now())

    async def _continue_as_new(self) -> None:
        # New updates are turned away ("moving", retried by callers against the new run), so
        # the handlers in flight can finish even under a steady stream of contacts.
        self._moving = True
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() and not self._dirty)
        async with self._lock:
            workflow.continue_as_new(
                CaseStart(ticket=self.case.state.ticket, policy=self.case.policy, state=self.case.carried_state())
            )

    async def _lean_loop(self) -> None:
        """The timer loop, re-arming only when needed: a timer already pending for no later than the
        next wakeup is kept (when it fires early, nothing is due yet, and the loop arms the next
        one), so a step that moves the wakeup later costs no timer. At most two stay pending."""
        timers: list[tuple[datetime, asyncio.Task[None]]] = []
        while True:
            async with self._lock:  # a handler may be mid-drain: plan the next timer after it
                if self.case.closed:
                    break
                wakeup = self.case.next_wakeup()
                seen = self._changes
            if wakeup is not None and not any(at <= wakeup.at for at, _ in timers):
                if len(timers) >= 2:
                    timers.sort(key=lambda t: t[0])
                    timers.pop()[1].cancel()  # the latest: an earlier one re-arms when it fires
                delay = max((wakeup.at - workflow.now()).total_seconds(), 0.001)
                timers.append((wakeup.at, asyncio.create_task(workflow.sleep(delay, summary=wakeup.summary))))
            pending = list(timers)
            await workflow.wait_condition(lambda: self._changes != seen or any(t.done() for _, t in pending))
            fired = [at for at, t in timers if t.done()]
            timers = [(at, t) for at, t in timers if not t.done()]
            if fired:
                async with self._lock:
                    due = self.case.next_wakeup()
                    if due is not None and due.at <= max(fired):
                        # Decided at the moment the timer was set for (see the loop of old, in run).
                        self.case.tick(due.at)
                        await self._drain()
            if workflow.info().is_continue_as_new_suggested() or self._updates >= MAX_UPDATES_PER_RUN:
                await self._continue_as_new()
        for _, timer in timers:
            timer.cancel()

    async def _publisher(self) -> None:
        """Show changes in the UI once the workflow task's coroutines have yielded: one upsert for
        what several drains of one task changed."""
        while True:
            await workflow.wait_condition(lambda: self._dirty)
            self._dirty = False
            self._publish_now()

    def _projected(self) -> bool:
        return not self._projecting or self.case.state.projected_seq >= self.case.state.seq

    async def _projector(self) -> None:
        """Send new domain events to the event store, batched, beside (never blocking) agents' steps."""
        state = self.case.state
        while True:
            # A plan in flight carries the new events (lean-actions): wait for it rather than send them too.
            await workflow.wait_condition(lambda: not self._projected() and self._hold == 0)
            events = [e for e in state.events if e.seq > state.projected_seq]
            self._sending_upto = max(self._sending_upto, events[-1].seq)
            try:
                await workflow.execute_activity(
                    PROJECT_EVENTS,
                    ProjectionBatch(
                        workflow_id=state.workflow_id,
                        case_id=state.case_id,
                        events=events,
                        status=self.case.status(workflow.now()),
                    ),
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=PROJECT_RETRY,
                    summary=f"store events {events[0].seq}-{events[-1].seq}",
                )
            except ActivityError as err:
                # Only a non-retryable failure gets here (PROJECT_RETRY retries outages for ever): a
                # batch the store can never take must not keep the case from finishing. Alert, go on.
                if not self._robust:
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
            async with self._lock:
                await self._drain()
            return result[0]
        async with self._lock:
            results: list[ContactResult] = []
            self._check(lambda: results.append(self.case.add_contact(inp.ticket, workflow.now())))
            await self._after_change()
        return results[0]

    def _add_contact(self, ticket: TicketEvent) -> ContactResult:
        if not self._answers:
            return self.case.add_contact(ticket, workflow.now())
        info = workflow.current_update_info()
        if info is None:
            return self.case.add_contact(ticket, workflow.now())
        update_id = info.id
        earlier = self.case.answer_for(update_id)
        if earlier is not None:  # this very update added the contact already (in the previous run)
            return earlier
        added = self.case.add_contact(ticket, workflow.now())
        self.case.remember_answer(update_id, added)
        return added

    @add_contact.validator
    def _validate_add_contact(self, inp: ContactInput) -> None:
        self._admit(lambda: self.case.check_add_contact(inp.ticket))

    @workflow.update(
        description="The customer replied on the ticket: recorded; resumes a paused case, "
        "else counts as a repeat contact. The same event id twice changes nothing."
    )
    async def customer_message(self, inp: CustomerMessageInput) -> CaseStatus:
        return await self._step(lambda now: self.case.customer_message(inp, now))

    @customer_message.validator
    def _validate_customer_message(self, inp: CustomerMessageInput) -> None:
        self._admit(lambda: self.case.check_customer_message(inp))

    @workflow.update(description="Record a ticket event whose rule's step the case refused, with the reason.")
    async def record_ignored(self, inp: IgnoredEventInput) -> CaseStatus:
        return await self._step(lambda now: self.case.record_ignored(inp, now))

    @workflow.update(description="Acknowledge the complaint and apologise; the customer is told the next promise.")
    async def acknowledge(self, inp: AcknowledgeInput) -> CaseStatus:
        return await self._step(lambda now: self.case.acknowledge(inp, now))

    @acknowledge.validator
    def _validate_acknowledge(self, inp: AcknowledgeInput) -> None:
        self._admit(lambda: self.case.check_acknowledge(inp))

    @workflow.update(description="Record the fix for the customer's problem.")
    async def record_fix(self, inp: FixInput) -> CaseStatus:
        return await self._step(lambda now: self.case.record_fix(inp, now))

    @record_fix.validator
    def _validate_record_fix(self, inp: FixInput) -> None:
        self._admit(lambda: self.case.check_record_fix(inp))

    @workflow.update(
        description="Propose compensation: issued at once within the agent's authority, "
        "otherwise it waits for approval by someone else."
    )
    async def compensate(self, inp: CompensateInput) -> CaseStatus:
        return await self._step(lambda now: self.case.compensate(inp, now))

    @compensate.validator
    def _validate_compensate(self, inp: CompensateInput) -> None:
        self._admit(lambda: self.case.check_compensate(inp, workflow.now()))

    @workflow.update(description="Approve or reject the compensation waiting for approval (not one's own).")
    async def approve_compensation(self, inp: ApprovalInput) -> CaseStatus:
        return await self._step(lambda now: self.case.decide_approval(inp, now))

    @approve_compensation.validator
    def _validate_approval(self, inp: ApprovalInput) -> None:
        self._admit(lambda: self.case.check_approval(inp))

    @workflow.update(description="Record the customer's answer to the follow-up; unsatisfied reopens the case at fix.")
    async def complete_follow_up(self, inp: FollowUpInput) -> CaseStatus:
        return await self._step(lambda now: self.case.complete_follow_up(inp, now))

    @complete_follow_up.validator
    def _validate_follow_up(self, inp: FollowUpInput) -> None:
        self._admit(lambda: self.case.check_follow_up(inp))

    @workflow.update(description="Close the case with a root cause from the policy and a note.")
    async def close(self, inp: CloseInput) -> CaseStatus:
        return await self._step(lambda now: self.case.close(inp, now))

    @close.validator
    def _validate_close(self, inp: CloseInput) -> None:
        self._admit(lambda: self.case.check_close(inp))

    @workflow.update(description="Pause while waiting on the customer: deadlines stop, elapsed time is kept.")
    async def pause(self, inp: PauseInput) -> CaseStatus:
        return await self._step(lambda now: self.case.pause(inp, now))

    @pause.validator
    def _validate_pause(self, inp: PauseInput) -> None:
        self._admit(lambda: self.case.check_pause(inp))

    @workflow.update(description="Resume a paused case: deadlines run again from where they stopped.")
    async def resume(self, inp: ResumeInput) -> CaseStatus:
        return await self._step(lambda now: self.case.resume(inp, now))

    @resume.validator
    def _validate_resume(self, inp: ResumeInput) -> None:
        self._admit(lambda: self.case.check_resume(inp))

    @workflow.update(
        description="Give the case an owner: claim it, assign it to an agent, or (its owner or a lead) "
        "hand it to someone else. Warnings and repeat contacts then go to the owner."
    )
    async def assign(self, inp: AssignInput) -> CaseStatus:
        return await self._step(lambda now: self.case.assign(inp, now))

    @assign.validator
    def _validate_assign(self, inp: AssignInput) -> None:
        self._admit(lambda: self.case.check_assign(inp))

    @workflow.update(description="Change the severity: deadlines are recomputed, elapsed time is kept.")
    async def change_severity(self, inp: ChangeSeverityInput) -> CaseStatus:
        return await self._step(lambda now: self.case.change_severity(inp, now))

    @change_severity.validator
    def _validate_change_severity(self, inp: ChangeSeverityInput) -> None:
        self._admit(lambda: self.case.check_change_severity(inp))

    @workflow.update(description="Apply a new policy to this in-flight case (new cases get it automatically).")
    async def apply_policy(self, inp: ApplyPolicyInput) -> CaseStatus:
        return await self._step(lambda now: self.case.apply_policy(inp, now))

    @apply_policy.validator
    def _validate_apply_policy(self, inp: ApplyPolicyInput) -> None:
        self._admit(lambda: self.case.check_apply_policy(inp))
        self._admit(lambda: self.case.check_may_apply_policy(inp))

    # ---- internals -------------------------------------------------------------------------

    def _admit(self, check: Callable[[], None]) -> None:
        """A validator: turn the update away while the run is moving to a new one, else check it."""
        if self._moving:
            raise ApplicationError("the case is moving to a new run; retry", type=MOVING, non_retryable=True)
        self._check(check)

    @staticmethod
    def _check(check: Callable[[], None]) -> None:
        try:
            check()
        except Rejection as rejection:
            raise ApplicationError(rejection.message, type=rejection.code, non_retryable=True) from None

    async def _step(self, apply: Callable[[Any], Any]) -> CaseStatus:
        self._updates += 1
        async with self._lock:
            # Checked again under the lock: another handler may have moved the case since validation.
            self._check(lambda: apply(workflow.now()))
            await self._after_change()
            return self.case.status(workflow.now())

    async def _after_change(self) -> None:
        self._changes += 1
        await self._drain()

    async def _drain(self) -> None:
        """Do the outbox's effects in order, then show the new state in the UI."""
        while (effect := self.case.take_effect()) is not None:
            if effect.notification is not None and self._robust:
                batch = []  # the notifications at the head of the outbox go out together
                for queued in self.case.state.outbox:
                    if queued.notification is None:
                        break
                    batch.append(queued)
                    queued.started = True
                await asyncio.gather(*(self._send(queued) for queued in batch))
                for queued in batch:
                    self.case.effect_done(queued)
                continue
            if effect.notification is not None:
                await self._send(effect)
            elif effect.issue is not None:
                self._hold += self._lean  # its outcome's notice carries the events
                try:
                    await self._issue(effect)
                finally:
                    self._hold -= self._lean
            self.case.effect_done(effect)
        self._publish()

    async def _send(self, effect: Effect) -> None:
        note = effect.notification
        assert note is not None
        # Histories from before the channels (one webhook activity per notification) replay unchanged.
        if self._lean or workflow.patched("channels"):
            await self._deliver(effect)
            return
        try:
            await workflow.execute_activity(
                SEND_NOTIFICATION,
                note,
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=NOTIFY_RETRY,
                summary=f"notify {note.recipient}: {note.template.replace('_', ' ')}",
            )
        except ActivityError as err:
            self.case.notification_failed(effect, str(err.cause or err), workflow.now())
        else:
            self.case.notification_delivered(effect, workflow.now())

    async def _deliver(self, effect: Effect) -> None:
        """Plan who hears it over which channels (roster, on-call order, quiet hours), then send
        each delivery as its own activity: a failed channel is recorded, the next person tried."""
        note = effect.notification
        assert note is not None
        label = note.template.replace("_", " ")
        try:
            if self._lean:
                plan = await self._plan_carrying(note, f"notify {note.recipient}: {label}")
            else:
                plan = await workflow.execute_activity(
                    PLAN_DELIVERIES,
                    note,
                    result_type=DeliveryPlan,
                    start_to_close_timeout=timedelta(seconds=15),
                    retry_policy=NOTIFY_RETRY,
                    summary=f"notify {note.recipient}: {label}",
                )
        except ActivityError as err:
            self.case.notification_failed(effect, str(err.cause or err), workflow.now())
            return
        reached: list[str] = []
        failed: list[tuple[str, str]] = []
        unreachable: list[str] = []
        stop = False
        for target in plan.targets + plan.also:
            if stop and target not in plan.also:
                continue
            channels = [c for d in target.deliveries if (c := await self._deliver_one(d, target.patient, failed))]
            if channels:
                reached.append(f"{target.label} ({', '.join(channels)})")
                stop = plan.first_reachable
            elif note.audience == "internal" and target not in plan.also:
                unreachable.append(target.label)
        # Nothing planned (no channel configured for it): the log line is all there is, as before the
        # channels — it counts as sent, or the silence clock would queue a status update every hour.
        planned = bool(plan.targets or plan.also)
        self.case.notification_delivered(
            effect,
            workflow.now(),
            reached if planned else None,
            failed,
            unreachable,
            plan.skipped,
            record=plan.recorded or bool(failed),
        )

    async def _plan_carrying(self, note: Notification, summary: str) -> DeliveryPlan:
        """The plan, carrying the events no store has been handed yet (one activity instead of two)."""
        state = self.case.state
        events = [e for e in state.events if e.seq > max(state.projected_seq, self._sending_upto)]
        if not events:
            plan: DeliveryPlan = await workflow.execute_activity(
                PLAN_DELIVERIES,
                note,
                result_type=DeliveryPlan,
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=NOTIFY_RETRY,
                summary=summary,
            )
            return plan
        self._sending_upto = events[-1].seq
        batch = ProjectionBatch(
            workflow_id=state.workflow_id, case_id=state.case_id, events=events, status=self.case.status(workflow.now())
        )
        self._hold += 1
        try:
            result: PlannedWithEvents = await workflow.execute_activity(
                PLAN_AND_PROJECT,
                PlanWithEvents(note=note, batch=batch),
                result_type=PlannedWithEvents,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=NOTIFY_RETRY,
                summary=summary,  # as before: the UI names the message; the batch is in the input
            )
        finally:
            self._hold -= 1
        if result.projected:  # else the projector sends them on its own (retried; a poison batch alerted)
            state.projected_seq = max(state.projected_seq, events[-1].seq)
        return result.plan

    async def _deliver_one(self, delivery: Delivery, patient: bool, failed: list[tuple[str, str]]) -> str | None:
        what = f"{delivery.channel} {'note' if delivery.internal else ''}".strip()
        # Webhook URLs carry secrets (Slack's do): the summary names the person or the ticket instead.
        whom = delivery.person or (delivery.address if delivery.channel in ("email", "zendesk", "jira") else "customer")
        try:
            await workflow.execute_activity(
                DELIVER,
                delivery,
                result_type=DeliveryReceipt,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=CUSTOMER_RETRY if patient else PERSON_RETRY,
                summary=f"{what} to {whom}: {delivery.note.template.replace('_', ' ')}",
            )
        except ActivityError as err:
            failed.append((f"{what} to {whom}", str(err.cause or err)))
            return None
        return what

    async def _issue(self, effect: Effect) -> None:
        instruction = effect.issue
        assert instruction is not None and effect.compensation_seq is not None
        amount = f" {instruction.amount}" if instruction.amount else ""
        try:
            result = await workflow.execute_activity(
                ISSUE_COMPENSATION,
                instruction,
                result_type=IssueResult,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=ISSUE_RETRY_ROBUST if self._robust else ISSUE_RETRY,
                summary=f"issue {instruction.kind.value}{amount}",
            )
        except ActivityError as err:
            cause = err.cause
            definite = isinstance(cause, ApplicationError) and cause.type == DECLINED
            if self._robust and not definite:
                # Retries gave up on an outage or timeout: the provider may have paid. Check again later.
                self.case.compensation_unknown(effect.compensation_seq, str(cause or err), workflow.now())
            else:
                self.case.compensation_failed(effect.compensation_seq, str(cause or err), workflow.now())
        else:
            self.case.compensation_issued(effect.compensation_seq, result.reference, workflow.now(), result.code)

    def _publish(self) -> None:
        if self._lean:
            self._dirty = True
        else:
            self._publish_now()

    def _publish_now(self) -> None:
        now = workflow.now()
        status = self.case.status(now)
        deadline = status.deadlines.due_at
        values: dict[str, Any] = {
            sa.RECOVERY_STEP.name: status.step.value,
            sa.RECOVERY_SEVERITY.name: status.severity.value,
            sa.ESCALATION_LEVEL.name: status.escalation_level,
            sa.CUSTOMER_ID.name: status.customer_id,
            sa.TICKET_SOURCE.name: status.ticket_source,
            sa.NEXT_DEADLINE.name: deadline,
        }
        if status.assignee is not None:  # never unset: histories from before `assign` keep their commands
            values[sa.ASSIGNEE.name] = status.assignee
        keys = {key.name: key for key in sa.ALL}
        updates: list[SearchAttributeUpdate[Any]] = []
        for name, value in values.items():
            if self._published.get(name, "unset") != value:
                key = keys[name]
                updates.append(key.value_unset() if value is None else key.value_set(value))
        if updates:
            workflow.upsert_search_attributes(updates)
            self._published = values
        workflow.set_current_details(self._details(status))
        unlogged = status.last_event_seq - self._logged_seq
        for event in self.case.state.events[-unlogged:] if unlogged else []:
            # Ids, type and sequence only: event data holds customers' words (subjects, notes), and
            # logs are not encrypted. The data is in the timeline and the event store.
            workflow.logger.info(
                "case event %s #%d by %s",
                event.type,
                event.seq,
                event.actor,
                extra={"case_id": status.case_id, "event_type": event.type, "seq": event.seq, "actor": event.actor},
            )
            self._count(event, status)
        self._logged_seq = status.last_event_seq

    def _count(self, event: DomainEvent, status: CaseStatus) -> None:
        """The engine's own metrics (the SDK's workflow meter records nothing during replay)."""
        meter = workflow.metric_meter()
        if event.type == "opened":
            meter.create_counter("recovery_cases_opened", "cases opened").add(
                1, {"source": status.ticket_source, "severity": str(event.data.get("severity"))}
            )
        elif event.type == "escalated":
            meter.create_counter("recovery_escalations", "escalations").add(
                1, {"level": str(event.data.get("level")), "reason": str(event.data.get("reason"))}
            )
            if event.data.get("reason") == "deadline missed" and not self._robust:
                meter.create_counter("recovery_breaches", "step deadlines missed").add(
                    1, {"step": str(event.data.get("step")), "severity": status.severity.value}
                )
        elif event.type == "deadline_missed":
            meter.create_counter("recovery_breaches", "step deadlines missed").add(
                1, {"step": str(event.data.get("step")), "severity": status.severity.value}
            )
        elif event.type == "acknowledged":
            meter.create_histogram_float("recovery_time_to_acknowledge", "opened to acknowledged", "s").record(
                (event.at - status.opened_at).total_seconds(), {"severity": status.severity.value}
            )
        elif event.type == "compensation_issued":
            meter.create_counter("recovery_compensations_issued", "compensations issued").add(
                1, {"kind": str(event.data.get("kind"))}
            )

    def _details(self, status: CaseStatus) -> str:
        policy = self.case.policy
        # The header repeats the static summary: a continued-as-new run has none of its own.
        lines = [
            f"**Case** {status.case_id} · {self.case.state.ticket.customer.name}",
            f"**Step:** {status.step.value}  ·  **severity:** {status.severity.value}",
        ]
        if status.paused:
            lines.append(f"**Paused:** {status.pause_reason}")
        elif status.deadlines.due_at is not None:
            lines.append(f"**Due:** {format_moment(status.deadlines.due_at, policy)}")
        if status.assignee:
            lines.append(f"**Owner:** {status.assignee}")
        pending = status.pending_compensation
        if pending is not None and pending.status == "outcome_unknown":
            lines.append(f"**Compensation:** {pending.kind.value} {pending.amount or ''} — outcome unknown, checking")
        if status.escalation_level:
            lines.append(f"**Escalation:** level {status.escalation_level} ({status.escalation_role})")
        lines.append(f"**Contacts:** {status.contact_count}  ·  **events:** {status.last_event_seq}")
        if status.root_cause:
            lines.append(f"**Root cause:** {status.root_cause}")
        return "\n\n".join(lines)

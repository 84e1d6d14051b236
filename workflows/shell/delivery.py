"""The outbox's effects: notifications (planned, then delivered channel by channel) and compensation issues."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError

from workflows.case import Case
from workflows.effects import (
    DELIVER,
    ISSUE_COMPENSATION,
    PLAN_AND_PROJECT,
    PLAN_DELIVERIES,
    Delivery,
    DeliveryPlan,
    DeliveryReceipt,
    DeliveryTarget,
    Effect,
    IssueResult,
    Notification,
    PlannedWithEvents,
    PlanWithEvents,
)
from workflows.shell.projection import Projector
from workflows.shell.publishing import Publisher
from workflows.shell.start import (
    CHANNEL_REJECTED,
    CUSTOMER_RETRY,
    DECLINED,
    ISSUE_LOCAL_BOUND,
    ISSUE_RETRY,
    NOTIFY_RETRY,
    PERSON_RETRY,
    UNREACHABLE_RETRIES,
)

FAILED = (ActivityError, ApplicationError, TimeoutError)
"""How an activity's final failure is raised: an activity's as ActivityError, a local activity's as its
cause itself (ApplicationError, or TimeoutError when its bound runs out)."""

# A plan is a local activity (short, idempotent: the store by workflow id + seq, the plan deterministic
# for the notification's key): no activity dispatch, no workflow task of its own. Its retries are
# NOTIFY_RETRY's (backoff beyond the local retry threshold becomes a timer); this bounds them all.
LOCAL_PLAN_BOUND = timedelta(minutes=20)


def failure_of(err: BaseException) -> BaseException:
    return err.cause if isinstance(err, ActivityError) and err.cause is not None else err


class Outbox:
    """Does the step machine's outbox in order. Each notification goes out as a delivery of its own that
    runs beside the case: no step, contact or deadline waits for a message (a message that cannot go
    out never holds up the ladder). Customer messages go one after another, in the order they were
    queued; compensation issues are done in the drain, in order. Then the case is marked for the UI."""

    def __init__(
        self, case: Case, projector: Projector, publisher: Publisher, on_delivered: Callable[[], None]
    ) -> None:
        self._case = case
        self._projector = projector
        self._publisher = publisher
        self._on_delivered = on_delivered
        """Told when a delivery is done (the timers re-plan: the silence clock may have moved)."""
        self._sending: dict[str, asyncio.Task[None]] = {}
        self._customer_tail: asyncio.Task[None] | None = None

    def idle(self) -> bool:
        """No delivery in flight (the run may end or continue as new)."""
        return not self._sending

    async def drain(self) -> None:
        case = self._case
        while (effect := self._next()) is not None:
            if effect.notification is not None:
                self._dispatch(effect)
                continue
            if effect.issue is not None:
                with self._projector.hold():  # its outcome's notice carries the events
                    await self._issue(effect)
            case.effect_done(effect)
        self._publisher.mark()

    def _next(self) -> Effect | None:
        return next((e for e in self._case.state.outbox if e.key not in self._sending), None)

    def _dispatch(self, effect: Effect) -> None:
        assert effect.notification is not None
        effect.started = True  # it can no longer take more news (a repeat contact's notice)
        customer = effect.notification.audience == "customer"
        after = self._customer_tail if customer else None
        # The projector waits from now for the plan, which carries the events. Planned at once; only
        # the sending waits its turn, so a stuck message never holds back the event store.
        release = self._projector.reserve()
        task = asyncio.create_task(self._send(effect, after, release))
        self._sending[effect.key] = task
        if customer:
            self._customer_tail = task

    async def _send(self, effect: Effect, after: asyncio.Task[None] | None, release: Callable[[], None]) -> None:
        await self._deliver(effect, release, after)
        del self._sending[effect.key]
        self._case.effect_done(effect)
        self._dispatch_queued()  # what the outcome queued (the owner told of a customer not reached)
        self._publisher.mark()
        self._on_delivered()

    def _dispatch_queued(self) -> None:
        """Notifications queued at the head of the outbox, sent now; an issue waits for the next drain."""
        for queued in list(self._case.state.outbox):
            if queued.key in self._sending:
                continue
            if queued.notification is None:
                return
            self._dispatch(queued)

    async def _deliver(self, effect: Effect, release: Callable[[], None], after: asyncio.Task[None] | None) -> None:
        """Plan who hears it over which channels (roster, on-call order, quiet hours), then (once
        `after`, the customer's previous message, is done: the customer hears things in order) send
        each delivery as its own activity: a failed channel is recorded, the next person tried."""
        case = self._case
        note = effect.notification
        assert note is not None
        try:
            plan = await self._plan_carrying(note, f"notify {note.recipient}: {note.template.replace('_', ' ')}")
        except FAILED as err:
            case.notification_failed(effect, str(failure_of(err)), workflow.now())
            return
        finally:
            release()
        if after is not None:
            await workflow.wait_condition(after.done)
        targets = plan.targets + plan.also
        for retry in (None, *UNREACHABLE_RETRIES):
            if retry is not None:
                # Nobody was reached and some channel was down rather than refusing: try them again
                # later (beside the case: no step or deadline waits for this).
                await workflow.sleep(retry, summary=f"reach again: {note.template.replace('_', ' ')}")
                if case.closed:
                    return
            targets = await self._deliver_to(effect, plan, targets, retrying=retry is not None)
            if not targets:
                return

    async def _deliver_to(
        self, effect: Effect, plan: DeliveryPlan, targets: list[DeliveryTarget], *, retrying: bool
    ) -> list[DeliveryTarget]:
        """One round over `targets`, recorded (a retry's outcome always, as its failure was); the
        targets to try again: for a message to staff that reached nobody, those a channel failed for
        without refusing (an outage)."""
        note = effect.notification
        assert note is not None
        reached: list[str] = []
        failed: list[tuple[str, str]] = []
        unreachable: list[str] = []
        down: list[DeliveryTarget] = []
        stop = False
        for target in targets:
            if stop and target not in plan.also:
                continue
            refused: list[bool] = []
            channels = [c for d in target.deliveries if (c := await deliver_one(d, target.patient, failed, refused))]
            if channels:
                reached.append(f"{target.label} ({', '.join(channels)})")
                stop = plan.first_reachable
            elif note.audience == "internal" and target not in plan.also:
                unreachable.append(target.label)
                if not all(refused):
                    down.append(target)  # a channel was down, not refusing: worth another try
        # Nothing planned (no channel configured for it): the log line is all there is — it counts as
        # sent, or the silence clock would queue a status update every hour.
        planned = bool(plan.targets or plan.also)
        self._case.notification_delivered(
            effect,
            workflow.now(),
            reached if planned else None,
            failed,
            unreachable,
            plan.skipped,
            record=plan.recorded or bool(failed) or retrying,
        )
        return down if not reached else []

    async def _plan_carrying(self, note: Notification, summary: str) -> DeliveryPlan:
        """The plan, carrying the events no store has been handed yet (one local activity instead of
        two activities)."""
        events = self._projector.to_carry()
        if not events:
            plan: DeliveryPlan = await workflow.execute_local_activity(
                PLAN_DELIVERIES,
                note,
                result_type=DeliveryPlan,
                start_to_close_timeout=timedelta(seconds=15),
                schedule_to_close_timeout=LOCAL_PLAN_BOUND,
                retry_policy=NOTIFY_RETRY,
                summary=summary,
            )
            return plan
        stored = False
        try:
            with self._projector.hold():
                result: PlannedWithEvents = await workflow.execute_local_activity(
                    PLAN_AND_PROJECT,
                    PlanWithEvents(note=note, batch=self._projector.batch(events)),
                    result_type=PlannedWithEvents,
                    start_to_close_timeout=timedelta(seconds=15),  # the store gives up after STORE_TIMEOUT
                    schedule_to_close_timeout=LOCAL_PLAN_BOUND,
                    retry_policy=NOTIFY_RETRY,
                    summary=summary,  # the UI names the message; the batch is in the input
                )
            stored = result.projected  # else the projector sends them on its own
        finally:
            self._projector.carried(events, stored)
        return result.plan

    async def _issue(self, effect: Effect) -> None:
        case = self._case
        instruction = effect.issue
        assert instruction is not None and effect.compensation_seq is not None
        amount = f" {instruction.amount}" if instruction.amount else ""
        try:
            # A local activity: short and idempotent (the provider's key is workflow id + seq), its
            # marker shares the task's batch with the notice's plan that follows it.
            result = await workflow.execute_local_activity(
                ISSUE_COMPENSATION,
                instruction,
                result_type=IssueResult,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=ISSUE_LOCAL_BOUND,
                retry_policy=ISSUE_RETRY,
                summary=f"issue {instruction.kind.value}{amount}",
            )
        except FAILED as err:
            cause = failure_of(err)
            if isinstance(cause, ApplicationError) and cause.type == DECLINED:
                case.compensation_failed(effect.compensation_seq, str(cause), workflow.now())
            else:
                # Retries gave up on an outage or timeout: the provider may have paid. Check again later.
                case.compensation_unknown(effect.compensation_seq, str(cause), workflow.now())
        else:
            case.compensation_issued(effect.compensation_seq, result.reference, workflow.now(), result.code)


async def deliver_one(
    delivery: Delivery, patient: bool, failed: list[tuple[str, str]], refused: list[bool] | None = None
) -> str | None:
    """The channel it went over, else None (the failure appended to `failed`, and to `refused`
    whether the other side refused for good rather than being down)."""
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
        if refused is not None:
            refused.append(isinstance(err.cause, ApplicationError) and err.cause.type == CHANNEL_REJECTED)
        return None
    return what

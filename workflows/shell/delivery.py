"""The outbox's effects: notifications (planned, then delivered channel by channel) and compensation issues."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, FailureError, TimeoutError

from workflows.models import (
    DELIVER,
    ISSUE_COMPENSATION,
    PLAN_AND_PROJECT,
    PLAN_DELIVERIES,
    SEND_NOTIFICATION,
    Delivery,
    DeliveryPlan,
    DeliveryReceipt,
    Effect,
    IssueResult,
    Notification,
    PlannedWithEvents,
    PlanWithEvents,
    ProjectionBatch,
)
from workflows.shell.start import (
    CUSTOMER_RETRY,
    DECLINED,
    ISSUE_LOCAL_BOUND,
    ISSUE_RETRY,
    ISSUE_RETRY_ROBUST,
    NOTIFY_RETRY,
    PERSON_RETRY,
)

if TYPE_CHECKING:
    from workflows.complaint import ComplaintWorkflow

LOCAL_FAILED = (ActivityError, ApplicationError, TimeoutError)
"""How an activity's final failure is raised: an activity's as ActivityError, but a local activity's as
its cause itself (ApplicationError, or TimeoutError when its bound runs out). Compact runs catch both;
lean runs caught only ActivityError and replay so (a plan that finally failed failed the update)."""


def failure_of(err: BaseException) -> BaseException:
    return err.cause if isinstance(err, ActivityError) and err.cause is not None else err


def _failed(wf: ComplaintWorkflow) -> tuple[type[FailureError], ...]:
    return LOCAL_FAILED if wf._compact else (ActivityError,)


async def drain(wf: ComplaintWorkflow) -> None:
    """Do the outbox's effects in order, then show the new state in the UI."""
    while (effect := wf.case.take_effect()) is not None:
        if effect.notification is not None and wf._robust:
            batch = []  # the notifications at the head of the outbox go out together
            for queued in wf.case.state.outbox:
                if queued.notification is None:
                    break
                batch.append(queued)
                queued.started = True
            await asyncio.gather(*(send(wf, queued) for queued in batch))
            for queued in batch:
                wf.case.effect_done(queued)
            continue
        if effect.notification is not None:
            await send(wf, effect)
        elif effect.issue is not None:
            wf._hold += wf._lean  # its outcome's notice carries the events
            try:
                await issue(wf, effect)
            finally:
                wf._hold -= wf._lean
        wf.case.effect_done(effect)
    wf._publish()


async def send(wf: ComplaintWorkflow, effect: Effect) -> None:
    note = effect.notification
    assert note is not None
    # Histories from before the channels (one webhook activity per notification) replay unchanged.
    if wf._lean or workflow.patched("channels"):
        await deliver(wf, effect)
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
        wf.case.notification_failed(effect, str(err.cause or err), workflow.now())
    else:
        wf.case.notification_delivered(effect, workflow.now())


async def deliver(wf: ComplaintWorkflow, effect: Effect) -> None:
    """Plan who hears it over which channels (roster, on-call order, quiet hours), then send
    each delivery as its own activity: a failed channel is recorded, the next person tried."""
    note = effect.notification
    assert note is not None
    label = note.template.replace("_", " ")
    try:
        if wf._lean:
            plan = await plan_carrying(wf, note, f"notify {note.recipient}: {label}")
        else:
            plan = await workflow.execute_activity(
                PLAN_DELIVERIES,
                note,
                result_type=DeliveryPlan,
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=NOTIFY_RETRY,
                summary=f"notify {note.recipient}: {label}",
            )
    except _failed(wf) as err:
        wf.case.notification_failed(effect, str(failure_of(err)), workflow.now())
        return
    reached: list[str] = []
    failed: list[tuple[str, str]] = []
    unreachable: list[str] = []
    stop = False
    for target in plan.targets + plan.also:
        if stop and target not in plan.also:
            continue
        channels = [c for d in target.deliveries if (c := await deliver_one(d, target.patient, failed))]
        if channels:
            reached.append(f"{target.label} ({', '.join(channels)})")
            stop = plan.first_reachable
        elif note.audience == "internal" and target not in plan.also:
            unreachable.append(target.label)
    # Nothing planned (no channel configured for it): the log line is all there is, as before the
    # channels — it counts as sent, or the silence clock would queue a status update every hour.
    planned = bool(plan.targets or plan.also)
    wf.case.notification_delivered(
        effect,
        workflow.now(),
        reached if planned else None,
        failed,
        unreachable,
        plan.skipped,
        record=plan.recorded or bool(failed),
    )


# A lean plan is a local activity (short, idempotent: the store by workflow id + seq, the plan
# deterministic for the notification's key): no activity dispatch, no workflow task of its own. Its
# retries are NOTIFY_RETRY's (backoff beyond the local retry threshold becomes a timer); this bounds
# them all, like NOTIFY_RETRY's 20 attempts (about 16 min) bound the plan as an activity.
LOCAL_PLAN_BOUND = timedelta(minutes=20)


async def plan_carrying(wf: ComplaintWorkflow, note: Notification, summary: str) -> DeliveryPlan:
    """The plan, carrying the events no store has been handed yet (one local activity instead of two
    activities)."""
    state = wf.case.state
    events = [e for e in state.events if e.seq > max(state.projected_seq, wf._sending_upto)]
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
    wf._sending_upto = events[-1].seq
    batch = ProjectionBatch(
        workflow_id=state.workflow_id, case_id=state.case_id, events=events, status=wf.case.status(workflow.now())
    )
    wf._hold += 1
    try:
        result: PlannedWithEvents = await workflow.execute_local_activity(
            PLAN_AND_PROJECT,
            PlanWithEvents(note=note, batch=batch),
            result_type=PlannedWithEvents,
            start_to_close_timeout=timedelta(seconds=15),  # the store gives up after STORE_TIMEOUT
            schedule_to_close_timeout=LOCAL_PLAN_BOUND,
            retry_policy=NOTIFY_RETRY,
            summary=summary,  # as before: the UI names the message; the batch is in the input
        )
    finally:
        wf._hold -= 1
    if result.projected:  # else the projector sends them on its own (retried; a poison batch alerted)
        state.projected_seq = max(state.projected_seq, events[-1].seq)
    return result.plan


async def deliver_one(delivery: Delivery, patient: bool, failed: list[tuple[str, str]]) -> str | None:
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


async def issue(wf: ComplaintWorkflow, effect: Effect) -> None:
    instruction = effect.issue
    assert instruction is not None and effect.compensation_seq is not None
    amount = f" {instruction.amount}" if instruction.amount else ""
    summary = f"issue {instruction.kind.value}{amount}"
    try:
        if wf._compact:
            # A local activity: short and idempotent (the provider's key is workflow id + seq), its
            # marker shares the task's batch with the notice's plan that follows it.
            result = await workflow.execute_local_activity(
                ISSUE_COMPENSATION,
                instruction,
                result_type=IssueResult,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=ISSUE_LOCAL_BOUND,
                retry_policy=ISSUE_RETRY_ROBUST,
                summary=summary,
            )
        else:
            result = await workflow.execute_activity(
                ISSUE_COMPENSATION,
                instruction,
                result_type=IssueResult,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=ISSUE_RETRY_ROBUST if wf._robust else ISSUE_RETRY,
                summary=summary,
            )
    except _failed(wf) as err:
        cause = failure_of(err)
        definite = isinstance(cause, ApplicationError) and cause.type == DECLINED
        if wf._robust and not definite:
            # Retries gave up on an outage or timeout: the provider may have paid. Check again later.
            wf.case.compensation_unknown(effect.compensation_seq, str(cause), workflow.now())
        else:
            wf.case.compensation_failed(effect.compensation_seq, str(cause), workflow.now())
    else:
        wf.case.compensation_issued(effect.compensation_seq, result.reference, workflow.now(), result.code)

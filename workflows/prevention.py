"""PreventionActionWorkflow: one durable workflow per prevention action (id `prevention-…`).

A lead opens it for a root cause with a description, an owner and a due date. The owner is reminded
before the due date (`reminder_at`); a missed due date is escalated up the ladder (team-lead, then
manager, one more every `ESCALATE_EVERY`); the `complete` update closes it with a note of what was
changed. Messages go through the engine's own notification activities (`plan_deliveries`, then
`deliver` per channel and person, as a task beside the timers), and every change is projected to the
read model by `project_prevention`. Time comes from `workflow.now()` only.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.effects import DELIVER, PLAN_DELIVERIES, DeliveryPlan, DeliveryReceipt, Notification, NotifyContext
    from workflows.prevention_models import (
        ESCALATE_EVERY,
        PROJECT_PREVENTION,
        CompleteInput,
        PreventionStart,
        PreventionState,
        reminder_at,
    )

__all__ = ["PreventionActionWorkflow"]

_PROJECT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
_PLAN_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
_PERSON_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=["ChannelRejected"],
)


def _text(moment: datetime) -> str:
    return moment.strftime("%a %d %b %Y %H:%M UTC")


@workflow.defn(name="PreventionActionWorkflow")
class PreventionActionWorkflow:
    @workflow.init
    def __init__(self, start: PreventionStart) -> None:
        self.start = start
        self.state = PreventionState(
            action_id=start.action_id,
            cause=start.cause,
            description=start.description,
            owner=start.owner,
            due=start.due,
            opened_by=start.opened_by.id,
            opened_at=workflow.now(),
        )
        self.projected = 0
        self.sending: list[asyncio.Task[None]] = []

    @workflow.run
    async def run(self, start: PreventionStart) -> PreventionState:
        await self._project()
        remind = reminder_at(self.state.opened_at, start.due)
        if await self._wait_until(remind, "remind the owner before the due date"):
            self.state = self._changed(reminded_at=workflow.now())
            self._notify("prevention_reminder", self.state.owner, "reminder")
            await self._project()
        moment = start.due
        for level, role in enumerate(start.ladder, start=1):
            summary = "due date: escalate to " + role if level == 1 else "still overdue: escalate to " + role
            if not await self._wait_until(moment, summary):
                break
            self.state = self._changed(escalation_level=level, escalated_to=role, escalated_at=workflow.now())
            self._notify("prevention_overdue", role, f"escalation-{level}", level)
            await self._project()
            moment = moment + ESCALATE_EVERY
        await workflow.wait_condition(lambda: self._done())
        await self._project()
        await workflow.wait_condition(lambda: workflow.all_handlers_finished())
        if self.sending:
            await workflow.wait(self.sending)
        return self.state

    @workflow.query(
        description="The action: cause, owner, due date, reminder, escalation level, and its note once done."
    )
    def status(self) -> PreventionState:
        return self.state

    @workflow.update(description="Close the action with a note of what was changed (required).")
    async def complete(self, inp: CompleteInput) -> PreventionState:
        self.state = self._changed(status="done", done_at=workflow.now(), done_by=inp.actor.id, note=inp.note)
        return self.state

    @complete.validator
    def _check_complete(self, inp: CompleteInput) -> None:
        if self._done():
            raise ApplicationError(f"prevention action {self.state.action_id} is already done", type="closed")
        if inp.actor.id != self.state.owner and inp.actor.role not in self.start.lead_roles:
            raise ApplicationError(
                f"only the owner ({self.state.owner}) or a lead may close this prevention action", type="forbidden"
            )
        if not inp.note.strip():
            raise ApplicationError("a note of what was changed is required", type="invalid")

    # ---- parts ---------------------------------------------------------------------------------

    def _done(self) -> bool:
        return self.state.status == "done"

    def _changed(self, **fields: object) -> PreventionState:
        return self.state.model_copy(update={**fields, "version": self.state.version + 1})

    async def _wait_until(self, moment: datetime, summary: str) -> bool:
        """True when `moment` came with the action still open; False once it is done."""
        delay = moment - workflow.now()
        if self._done():
            return False
        if delay > timedelta(0):
            try:
                await workflow.wait_condition(lambda: self._done(), timeout=delay, timeout_summary=summary)
                return False
            except TimeoutError:
                pass
        return not self._done()

    async def _project(self) -> None:
        state = self.state
        if state.version <= self.projected:
            return
        await workflow.execute_activity(
            PROJECT_PREVENTION,
            state,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=_PROJECT_RETRY,
            summary=f"store prevention action v{state.version}",
        )
        self.projected = max(self.projected, state.version)

    def _notify(self, template: str, recipient: str, suffix: str, level: int = 0) -> None:
        state = self.state
        note = Notification(
            key=f"{workflow.info().workflow_id}:{suffix}",
            case_id=state.action_id,
            workflow_id=workflow.info().workflow_id,
            audience="internal",
            recipient=recipient,
            template=template,
            params={
                "case": state.action_id,
                "customer": "",
                "subject": state.description,
                "cause": state.cause,
                "description": state.description,
                "owner": state.owner,
                "due": _text(state.due),
                "level": str(level),
            },
            context=NotifyContext(
                at=workflow.now(),
                ticket_source="prevention",
                ticket_id=state.action_id,
                severity="normal",
                level=level,
            ),
        )
        self.sending.append(asyncio.create_task(self._send(note)))

    async def _send(self, note: Notification) -> None:
        """Plan who hears it, then each person's channels in order until one is reached."""
        plan = await workflow.execute_activity(
            PLAN_DELIVERIES,
            note,
            result_type=DeliveryPlan,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=_PLAN_RETRY,
            summary=f"plan {note.template.replace('_', ' ')} for {note.recipient}",
        )
        for target in plan.targets:
            reached = False
            for delivery in target.deliveries:
                try:
                    await workflow.execute_activity(
                        DELIVER,
                        delivery,
                        result_type=DeliveryReceipt,
                        start_to_close_timeout=timedelta(seconds=30),
                        retry_policy=_PERSON_RETRY,
                        summary=f"{note.template.replace('_', ' ')}: {delivery.channel} to {target.label}",
                    )
                    reached = True
                except ActivityError:
                    workflow.logger.warning("prevention notice not delivered", extra={"key": delivery.key})
            if reached and plan.first_reachable:
                return

"""One run of a case: the step machine and the parts that do its effects, and the run's course."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ContinueAsNewVersioningBehavior

from workflows.case import Case, Rejection
from workflows.models import CaseStatus, ContactResult, EraseInput, TicketEvent
from workflows.shell import carrying
from workflows.shell.delivery import Outbox
from workflows.shell.gate import Gate
from workflows.shell.projection import Projector
from workflows.shell.publishing import Publisher
from workflows.shell.start import DELIVERIES_AT_MOVE, MOVING, OPENED_AT_TOLERANCE, CaseStart
from workflows.shell.timers import Timers

T = TypeVar("T")


def check(rule: Callable[..., object], *args: object) -> None:
    """Run a step machine's check (or change); its rejection becomes the update's failure."""
    try:
        rule(*args)
    except Rejection as rejection:
        raise ApplicationError(rejection.message, type=rejection.code, non_retryable=True) from None


class CaseRun:
    """Built once in the workflow's `__init__` (the update of update-with-start runs before `run`).
    Each part owns its state: the gate its lock and counts, the projector what is stored, the
    publisher what the UI shows, the outbox its deliveries, the timers their pending sleeps."""

    def __init__(self, start: CaseStart) -> None:
        if start.state is not None:
            self.case = Case(start.state)
        else:
            opened = workflow.now()
            # The client's moment, if it is a plausible one (not ahead of this task, at most seconds
            # behind): then its NextDeadline matches ours.
            if start.opened_at is not None and opened - OPENED_AT_TOLERANCE <= start.opened_at <= opened:
                opened = start.opened_at
            self.case = Case.open(start.ticket, start.policy, workflow.info().workflow_id, opened, start.rule)
        self.gate = Gate()
        self.projector = Projector(self.case)
        self.publisher = Publisher(self.case, continued=start.state is not None)
        self.outbox = Outbox(self.case, self.projector, self.publisher, self.gate.changed)
        self.timers = Timers(self.case, self.gate, self.outbox)

    # ---- the run ---------------------------------------------------------------------------

    async def run(self) -> CaseStatus:
        publisher = asyncio.create_task(self.publisher.run())
        projector = asyncio.create_task(self.projector.run())
        async with self.gate.lock:
            await self.outbox.drain()
        await self.timers.run()
        if not self.case.closed:
            await self._continue_as_new()
        await workflow.wait_condition(
            lambda: (
                workflow.all_handlers_finished()
                and self.outbox.idle()
                and self.projector.done()
                and not self.publisher.pending
            )
        )
        projector.cancel()
        publisher.cancel()
        return self.case.status(workflow.now())

    async def _continue_as_new(self) -> None:
        """At a safe point: new updates are turned away ("moving", retried by callers against the new
        run), the handlers in flight finish (and the deliveries, for a while) and the UI is current;
        the state goes along, onto the deployment's current build when a newer one is the target."""
        self.gate.moving = True
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() and not self.publisher.pending)
        if not self.outbox.idle():
            # Deliveries in flight usually end in moments; one stuck in an outage goes along in the
            # carried outbox and is sent again by the new run (the delivery log stops a second send).
            with contextlib.suppress(asyncio.TimeoutError):
                await workflow.wait_condition(
                    self.outbox.idle, timeout=DELIVERIES_AT_MOVE, timeout_summary="deliveries in flight"
                )
            await workflow.wait_condition(lambda: not self.publisher.pending)
        async with self.gate.lock:
            upgrade = self.gate.upgrade_due()
            state = carrying.carried_state(self.case)
            workflow.continue_as_new(
                CaseStart(ticket=state.ticket, policy=state.policy, state=state),
                initial_versioning_behavior=ContinueAsNewVersioningBehavior.AUTO_UPGRADE if upgrade else None,
            )

    # ---- changes ---------------------------------------------------------------------------

    def admit(self, rule: Callable[..., object], *args: object) -> None:
        """A validator: turn the update away while the run is moving to a new one, else check it."""
        if self.gate.moving:
            raise ApplicationError("the case is moving to a new run; retry", type=MOVING, non_retryable=True)
        check(rule, *args)

    async def step(self, apply: Callable[[T, object], object], inp: T) -> CaseStatus:
        async with self.gate.turn():
            # Checked again under the lock: another handler may have moved the case since validation.
            check(apply, inp, workflow.now())
            self.gate.changed()
            await self.outbox.drain()
            return self.case.status(workflow.now())

    async def erase(self, inp: EraseInput) -> CaseStatus:
        """Erase the customer's data (`Case.erase`), then continue as new at the next safe point. The
        answer waits until every event is in the event store, erased: the caller erases the store's
        older copies after it, and no batch of this run lands later."""
        async with self.gate.turn():
            check(self.case.erase, inp, workflow.now())
            self.gate.erased = True
            self.gate.changed()
            await self.outbox.drain()
            status = self.case.status(workflow.now())
        await workflow.wait_condition(self.projector.done)
        return status

    async def add_contact(self, ticket: TicketEvent) -> ContactResult:
        """Applied at once (a synchronous change of the step machine), then the outbox is drained:
        concurrent contacts share one drain, their notifications sent side by side."""
        result: list[ContactResult] = []
        check(lambda: result.append(self._add_contact_once(ticket)))
        self.gate.changed()
        async with self.gate.turn():
            await self.outbox.drain()
        return result[0]

    def _add_contact_once(self, ticket: TicketEvent) -> ContactResult:
        """The contact added, or (the same update, retried into the next run) the answer it had then."""
        info = workflow.current_update_info()
        if info is None:
            return self.case.add_contact(ticket, workflow.now())
        earlier = carrying.answer_for(self.case, info.id)
        if earlier is not None:  # this very update added the contact already (in the previous run)
            return earlier
        added = self.case.add_contact(ticket, workflow.now())
        carrying.remember_answer(self.case, info.id, added)
        return added

    def nudge(self) -> None:
        """Wake the timer loop: it re-plans, and moves the case to a newer build if one is the target."""
        self.gate.changed()

"""The timers that fire deadlines: one kept for the earliest wakeup, and the catch-up of overdue ones."""

from __future__ import annotations

import asyncio
from datetime import datetime

from temporalio import workflow

from workflows.case import Case
from workflows.shell.delivery import Outbox
from workflows.shell.gate import Gate

CATCH_UP_LIMIT = 8
"""At most this many overdue wakeups handled in one task (more wait for the next timer, armed at once)."""
MAX_PENDING = 2
"""Timers kept pending at once: a step that moves the wakeup later costs no new timer."""


class Timers:
    def __init__(self, case: Case, gate: Gate, outbox: Outbox) -> None:
        self._case = case
        self._gate = gate
        self._outbox = outbox

    def _phase(self) -> tuple[object, ...]:
        """What a catch-up stays within: the step, whether the follow-up question went out, the pause."""
        state = self._case.state
        return (state.step, state.clock.follow_up_asked, state.paused)

    async def run(self) -> None:
        """Until the case is closed or the run should continue as new. A timer already pending for no
        later than the next wakeup is kept (when it fires early, nothing is due yet, and the loop arms
        the next one), so a step that moves the wakeup later costs no timer."""
        case, gate = self._case, self._gate
        timers: list[tuple[datetime, asyncio.Task[None]]] = []
        try:
            while True:
                async with gate.lock:  # a handler may be mid-drain: plan the next timer after it
                    if case.closed:
                        return
                    wakeup = case.next_wakeup()
                    seen = gate.changes
                if wakeup is not None and not any(at <= wakeup.at for at, _ in timers):
                    if len(timers) >= MAX_PENDING:
                        timers.sort(key=lambda t: t[0])
                        timers.pop()[1].cancel()  # the latest: an earlier one re-arms when it fires
                    delay = max((wakeup.at - workflow.now()).total_seconds(), 0.001)
                    timers.append((wakeup.at, asyncio.create_task(workflow.sleep(delay, summary=wakeup.summary))))
                pending = list(timers)
                await workflow.wait_condition(
                    lambda: gate.changes != seen or gate.erased or any(t.done() for _, t in pending)
                )
                fired = [at for at, t in timers if t.done()]
                timers = [(at, t) for at, t in timers if not t.done()]
                if fired:
                    began = workflow.now()
                    async with gate.lock:
                        due = case.next_wakeup()
                        if due is not None and due.at <= max(fired):
                            began_in = self._phase()
                            # Decided at the moment the timer was set for, not workflow.now(): the
                            # timer's firing is in history, but a task's time can differ between a
                            # live run and its replay (seen after a worker died with a task in flight).
                            case.tick(due.at)
                            await self._outbox.drain()
                            await self._catch_up(began, began_in)
                if gate.should_continue_as_new():
                    return
        finally:
            for _, timer in timers:
                timer.cancel()

    async def _catch_up(self, upto: datetime, began_in: tuple[object, ...]) -> None:
        """Wakeups already due when this task began (`upto`: it ran late, a storm of coincident deadlines
        queues the tasks) are handled in it too, each at its own moment: a warning and the escalation
        after it cost one workflow task and no timer, not one of each. Only those, and only while no
        agent's step is waiting for the lock (a step that reached the case goes first, as it did between
        one timer and the next), and only within the phase the case was in (a follow-up question sent
        late, after a worker outage, does not have its answer's warnings and deadline fire in the same
        task). `upto` is workflow time, from history, so replay takes the same path."""
        case = self._case
        for _ in range(CATCH_UP_LIMIT):
            if self._gate.waiting:
                return
            if self._phase() != began_in:
                return
            due = case.next_wakeup()
            if due is None or due.at > upto:
                return
            seq = case.state.seq
            case.tick(due.at)
            await self._outbox.drain()
            if case.state.seq == seq:
                return  # nothing happened at that moment (a wakeup that only re-arms): the timer takes it

"""The timer loops that fire deadlines, and continue-as-new."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING

from temporalio import workflow

from workflows.shell.start import MAX_UPDATES_PER_RUN, CaseStart

if TYPE_CHECKING:
    from workflows.complaint import ComplaintWorkflow


async def loop(wf: ComplaintWorkflow) -> None:
    """The timer loop of histories from before lean-actions: one timer per wait, re-armed on every change."""
    while True:
        async with wf._lock:  # a handler may be mid-drain: plan the next timer after it
            if wf.case.closed:
                break
            wakeup = wf.case.next_wakeup()
            seen = wf._changes
        timeout = None
        if wakeup is not None:
            timeout = max((wakeup.at - workflow.now()).total_seconds(), 0.001)
        try:
            await workflow.wait_condition(
                lambda: wf._changes != seen,
                timeout=timeout,
                timeout_summary=wakeup.summary if wakeup else None,
            )
        except asyncio.TimeoutError:
            assert wakeup is not None
            async with wf._lock:
                # Deadlines are decided at the moment the timer was set for, not workflow.now():
                # the timer's firing is in history, but a task's time can differ between a live
                # run and its replay (seen after a worker died with a task in flight).
                wf.case.tick(wakeup.at)
                await wf._drain()
        if wf._robust and (workflow.info().is_continue_as_new_suggested() or wf._updates >= MAX_UPDATES_PER_RUN):
            await continue_as_new(wf)
        if workflow.info().is_continue_as_new_suggested():
            # Unprojected events travel in the state: the next run's projector sends them.
            await workflow.wait_condition(workflow.all_handlers_finished)
            async with wf._lock:
                workflow.continue_as_new(
                    CaseStart(ticket=wf.case.state.ticket, policy=wf.case.policy, state=wf.case.state)
                )


async def continue_as_new(wf: ComplaintWorkflow) -> None:
    # New updates are turned away ("moving", retried by callers against the new run), so
    # the handlers in flight can finish even under a steady stream of contacts.
    wf._moving = True
    await workflow.wait_condition(lambda: workflow.all_handlers_finished() and not wf._dirty)
    async with wf._lock:
        workflow.continue_as_new(
            CaseStart(
                ticket=wf.case.state.ticket, policy=wf.case.policy, state=wf.case.carried_state(), rules=wf._rules
            )
        )


CATCH_UP_LIMIT = 8
"""At most this many overdue wakeups handled in one task (more wait for the next timer, armed at once)."""


def phase(wf: ComplaintWorkflow) -> tuple[object, ...]:
    """What a catch-up stays within: the step, whether the follow-up question went out, the pause."""
    state = wf.case.state
    return (state.step, state.clock.follow_up_asked, state.paused)


async def catch_up(wf: ComplaintWorkflow, upto: datetime, began_in: tuple[object, ...]) -> None:
    """Wakeups already due when this task began (`upto`: it ran late, a storm of coincident deadlines
    queues the tasks) are handled in it too, each at its own moment: a warning and the escalation after it
    cost one workflow task and no timer, not one of each. Only those, and only while no agent's step is
    waiting for the lock: a step that reached the case goes first, as it did between one timer and the
    next; and only within the phase the case was in (a follow-up question sent late, after a worker
    outage, does not have its answer's warnings and deadline fire in the same task). What falls due while
    this task's plans run waits for its timer.
    `upto` is workflow time, from history, so replay takes the same path."""
    for _ in range(CATCH_UP_LIMIT):
        if wf._queued:
            return  # an agent's step (or a contact) waits: it goes first, as it would between timers
        if phase(wf) != began_in:
            return  # a new phase (the question just went out): its own deadlines get their own timers
        due = wf.case.next_wakeup()
        if due is None or due.at > upto:
            return
        seq = wf.case.state.seq
        wf.case.tick(due.at)
        await wf._drain()
        if wf.case.state.seq == seq:
            return  # nothing happened at that moment (a wakeup that only re-arms): the timer takes it


async def lean_loop(wf: ComplaintWorkflow) -> None:
    """The timer loop, re-arming only when needed: a timer already pending for no later than the
    next wakeup is kept (when it fires early, nothing is due yet, and the loop arms the next
    one), so a step that moves the wakeup later costs no timer. At most two stay pending."""
    timers: list[tuple[datetime, asyncio.Task[None]]] = []
    while True:
        async with wf._lock:  # a handler may be mid-drain: plan the next timer after it
            if wf.case.closed:
                break
            wakeup = wf.case.next_wakeup()
            seen = wf._changes
        if wakeup is not None and not any(at <= wakeup.at for at, _ in timers):
            if len(timers) >= 2:
                timers.sort(key=lambda t: t[0])
                timers.pop()[1].cancel()  # the latest: an earlier one re-arms when it fires
            delay = max((wakeup.at - workflow.now()).total_seconds(), 0.001)
            timers.append((wakeup.at, asyncio.create_task(workflow.sleep(delay, summary=wakeup.summary))))
        pending = list(timers)
        await workflow.wait_condition(lambda: wf._changes != seen or any(t.done() for _, t in pending))
        fired = [at for at, t in timers if t.done()]
        timers = [(at, t) for at, t in timers if not t.done()]
        if fired:
            began = workflow.now()
            async with wf._lock:
                due = wf.case.next_wakeup()
                if due is not None and due.at <= max(fired):
                    began_in = phase(wf)
                    # Decided at the moment the timer was set for (see the loop of old, `loop`).
                    wf.case.tick(due.at)
                    await wf._drain()
                    if wf._compact:
                        await catch_up(wf, began, began_in)
        if workflow.info().is_continue_as_new_suggested() or wf._updates >= MAX_UPDATES_PER_RUN:
            await continue_as_new(wf)
    for _, timer in timers:
        timer.cancel()

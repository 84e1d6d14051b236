"""The run's course: which rules (patches) it follows, its tasks and loops, a contact's answer across runs."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from temporalio import workflow

from workflows.models import CaseStatus, ContactResult, TicketEvent
from workflows.shell import projection, publishing, timers

if TYPE_CHECKING:
    from workflows.complaint import ComplaintWorkflow


def decide_rules(wf: ComplaintWorkflow) -> None:
    if wf._lean:
        # Every patch costs a marker and a billable TemporalChangeVersion upsert per run (the SDK
        # upserts one for each patch a run calls): a lean run asks for none of the older ones.
        wf._projecting = wf.case.state.pause_budget = wf._robust = True
        wf.case.make_robust()
        return
    # Histories from before the event store have no projection: they replay without it.
    wf._projecting = workflow.patched("project-events")
    # Histories from before the pause budget replay without it (their policies have no max_pause,
    # but a continued-as-new state must not start enforcing it either).
    wf.case.state.pause_budget = workflow.patched("pause-budget")
    # Breach events, delivery-moved silence, bounded state, continue-as-new under load,
    # unknown compensation outcomes, poison batches: see Case.robust. Older histories replay without.
    wf._robust = workflow.patched("robust-cases")
    if wf._robust:
        wf.case.make_robust()


async def run(wf: ComplaintWorkflow) -> CaseStatus:
    if not wf._answers:  # older histories decide the rules here, as they were recorded
        wf._decide_rules()
    if wf._lean:
        publisher = asyncio.create_task(publishing.publisher(wf))
    if wf._projecting:
        projector = asyncio.create_task(projection.projector(wf))
    async with wf._lock:
        await wf._drain()
    if wf._lean:
        await timers.lean_loop(wf)
    else:
        await timers.loop(wf)
    await workflow.wait_condition(
        lambda: workflow.all_handlers_finished() and projection.projected(wf) and not wf._dirty
    )
    if wf._projecting:
        projector.cancel()
    if wf._lean:
        publisher.cancel()
    return wf.case.status(workflow.now())


def add_contact_once(wf: ComplaintWorkflow, ticket: TicketEvent) -> ContactResult:
    """The contact added, or (the same update, retried into the next run) the answer it had then."""
    if not wf._answers:
        return wf.case.add_contact(ticket, workflow.now())
    info = workflow.current_update_info()
    if info is None:
        return wf.case.add_contact(ticket, workflow.now())
    update_id = info.id
    earlier = wf.case.answer_for(update_id)
    if earlier is not None:  # this very update added the contact already (in the previous run)
        return earlier
    added = wf.case.add_contact(ticket, workflow.now())
    wf.case.remember_answer(update_id, added)
    return added

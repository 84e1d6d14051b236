"""`plan_deliveries_and_project`: a notification's plan that also stores the case's new events.

A step that sends a notification used to cost two activities side by side (the plan, and the
projector's batch of the step's events). Here the batch rides along: stored first (idempotent by
workflow id + seq, like every batch), then the plan. Storing never fails the plan: on an outage or a
refused event the activity says `projected=False`, and the workflow's projector sends the batch on
its own, with its usual retries and poison-batch alert — so PostgreSQL being down delays no message.
"""

from __future__ import annotations

import asyncio

import structlog
from temporalio import activity

from activities.notifications import Notifier
from activities.store.projection import Projector, project
from workflows.effects import PLAN_AND_PROJECT, PlannedWithEvents, PlanWithEvents

log = structlog.get_logger("projection")

STORE_TIMEOUT = 3.0
"""Seconds the store may take before the plan goes on without it (`projected=False`). The plan runs
as a local activity in the workflow's task: a store that hangs (PostgreSQL unreachable rather than
refusing connections) must not hold the message or the task."""


class PlanAndProject:
    def __init__(self, notifier: Notifier, projector: Projector):
        self.notifier = notifier
        self.projector = projector

    @activity.defn(name=PLAN_AND_PROJECT)
    async def plan_and_project(self, inp: PlanWithEvents) -> PlannedWithEvents:
        projected = True
        try:
            await asyncio.wait_for(self._store(inp), STORE_TIMEOUT)
        except Exception as err:  # the projector's own activity retries (or alerts); the message goes on
            log.warning(
                "events not stored with the plan; the projector sends them",
                workflow_id=inp.batch.workflow_id,
                case_id=inp.batch.case_id,
                error=f"{type(err).__name__}: {err}",
            )
            projected = False
        plan = await self.notifier.plan(inp.note)
        return PlannedWithEvents(plan=plan, projected=projected)

    async def _store(self, inp: PlanWithEvents) -> None:
        """Stored, then any close signalled to its cause's watch: if that fails the batch counts as
        not projected, and the projector's own activity stores (harmlessly) and signals it again."""
        await project(self.projector.pool, inp.batch, self.projector.codec)
        if self.projector.closes is not None:
            await self.projector.closes.report(inp.batch)

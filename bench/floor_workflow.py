"""The floor: a workflow of the complaint lifecycle's SHAPE with none of its logic.

Same updates (`add_contact` by update-with-start, then `acknowledge`, `record_fix`, `compensate`,
`complete_follow_up`, `close`), the same activities per step under the same activity names (the
`plan`, counted from a real lifecycle's history), a projector task beside the steps that sends
"events" in batches exactly as `workflows.shell.projection.projector` does, and one timer wait loop whose
timer is cancelled and re-armed on every change and fires once for the follow-up. No validators, no
state machine, no search-attribute upserts, no current details, no logging: what is left is the
cost of Temporal itself for this shape.

Kept free of project imports; its worker passes it through the sandbox, as the real worker does its
workflow's module (`recovery.sandbox`).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

IDLE_TIMER = timedelta(days=1)
"""The timer armed while nothing is due (the real workflow's next warning / silence / ceiling)."""

_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


@workflow.defn(name="FloorWorkflow")
class FloorWorkflow:
    @workflow.init
    def __init__(self, start: dict[str, Any]) -> None:
        self.plan: dict[str, list[str]] = start["plan"]
        self.follow_up = timedelta(seconds=float(start.get("follow_up_seconds", 1.0)))
        self.lock = asyncio.Lock()
        self.changes = 0
        self.seq = 0
        self.projected = 0
        self.closed = False
        self.follow_up_due: datetime | None = None
        self.asked = False

    @workflow.run
    async def run(self, start: dict[str, Any]) -> dict[str, Any]:
        projector = asyncio.create_task(self._projector())
        async with self.lock:
            await self._segment("start")
        while True:
            async with self.lock:
                if self.closed:
                    break
                seen = self.changes
                waiting = self.follow_up_due is not None and not self.asked
                timeout = (
                    (self.follow_up_due - workflow.now()).total_seconds() if self.follow_up_due and waiting else None
                )
            try:
                await workflow.wait_condition(
                    lambda seen=seen: self.changes != seen,  # type: ignore[misc]
                    timeout=max(timeout, 0.001) if timeout is not None else IDLE_TIMER.total_seconds(),
                )
            except TimeoutError:
                async with self.lock:
                    if self.follow_up_due is not None and not self.asked:
                        self.asked = True
                        await self._segment("timer")
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() and self.projected >= self.seq)
        projector.cancel()
        return {"closed": True, "events": self.seq}

    async def _projector(self) -> None:
        while True:
            await workflow.wait_condition(lambda: self.projected < self.seq)
            first, last = self.projected + 1, self.seq
            await workflow.execute_activity(
                "project_events",
                {"first": first, "last": last},
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_RETRY,
            )
            self.projected = max(self.projected, last)

    async def _segment(self, name: str) -> None:
        """One step's work: an event, then the step's activities in order (an issued compensation
        is one more event, as in the real workflow)."""
        if name != "add_contact":
            self.seq += 1
        for activity_name in self.plan.get(name, []):
            await workflow.execute_activity(
                activity_name, {"seq": self.seq}, start_to_close_timeout=timedelta(seconds=30), retry_policy=_RETRY
            )
            if activity_name == "issue_compensation":
                self.seq += 1

    async def _step(self, name: str) -> dict[str, Any]:
        async with self.lock:
            self.changes += 1
            await self._segment(name)
            if name == "compensate":
                self.follow_up_due = workflow.now() + self.follow_up
            elif name == "close":
                self.closed = True
            return {"step": name, "seq": self.seq}

    @workflow.query
    def follow_up_asked(self) -> bool:
        return self.asked

    @workflow.update
    async def add_contact(self, inp: dict[str, Any]) -> dict[str, Any]:
        return await self._step("add_contact")

    @workflow.update
    async def acknowledge(self, inp: dict[str, Any]) -> dict[str, Any]:
        return await self._step("acknowledge")

    @workflow.update
    async def record_fix(self, inp: dict[str, Any]) -> dict[str, Any]:
        return await self._step("record_fix")

    @workflow.update
    async def compensate(self, inp: dict[str, Any]) -> dict[str, Any]:
        return await self._step("compensate")

    @workflow.update
    async def complete_follow_up(self, inp: dict[str, Any]) -> dict[str, Any]:
        return await self._step("complete_follow_up")

    @workflow.update
    async def close(self, inp: dict[str, Any]) -> dict[str, Any]:
        return await self._step("close")

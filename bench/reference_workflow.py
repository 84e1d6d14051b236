"""The reference: a FIXED minimal workflow for the complaint lifecycle's customer-visible work.

Unlike the floor (whose plan is counted from the real workflow's history, so it gets cheaper whenever
the engine does), this shape is written down here once and never follows the engine: the same client
calls (update-with-start `add_contact`, then `acknowledge`, `record_fix`, `compensate`,
`complete_follow_up`, `close`), one no-op activity per customer-visible effect — a notification on
open, acknowledge, fix, compensate and when the follow-up is asked (5), and the compensation itself
(1) — and one timer wait re-armed on every change, which fires once for the follow-up. No projection,
no search attributes, no state machine. It is the yardstick for "what this lifecycle should cost".

Kept free of project imports; its worker passes it through the sandbox, as the real worker does its
workflow's module (`recovery.sandbox`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

NOTIFY = "reference_notify"
COMPENSATE = "reference_compensate"

# The customer-visible effects of each step (fixed; the timer's is the follow-up question). Read-only:
# the module is shared by every run (recovery.sandbox).
EFFECTS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "add_contact": (NOTIFY,),
        "acknowledge": (NOTIFY,),
        "record_fix": (NOTIFY,),
        "compensate": (COMPENSATE, NOTIFY),
        "follow_up_timer": (NOTIFY,),
        "complete_follow_up": (),
        "close": (),
    }
)

IDLE_TIMER = timedelta(days=1)
_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


@workflow.defn(name="ReferenceWorkflow")
class ReferenceWorkflow:
    @workflow.init
    def __init__(self, start: dict[str, Any]) -> None:
        self.follow_up = timedelta(seconds=float(start.get("follow_up_seconds", 1.0)))
        self.lock = asyncio.Lock()
        self.changes = 0
        self.closed = False
        self.follow_up_at: float | None = None
        self.asked = False

    @workflow.run
    async def run(self, start: dict[str, Any]) -> dict[str, Any]:
        while not self.closed:
            seen = self.changes
            timeout = IDLE_TIMER.total_seconds()
            if self.follow_up_at is not None and not self.asked:
                timeout = max(self.follow_up_at - workflow.time(), 0.001)
            try:
                await workflow.wait_condition(lambda seen=seen: self.changes != seen, timeout=timeout)  # type: ignore[misc]
            except TimeoutError:
                async with self.lock:
                    if self.follow_up_at is not None and not self.asked:
                        self.asked = True
                        await self._effects("follow_up_timer")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return {"closed": True}

    async def _effects(self, step: str) -> None:
        for name in EFFECTS[step]:
            await workflow.execute_activity(
                name, step, start_to_close_timeout=timedelta(seconds=30), retry_policy=_RETRY
            )

    async def _step(self, step: str) -> dict[str, Any]:
        async with self.lock:
            await self._effects(step)
            if step == "compensate":
                self.follow_up_at = workflow.time() + self.follow_up.total_seconds()
            elif step == "close":
                self.closed = True
            self.changes += 1
            return {"step": step}

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

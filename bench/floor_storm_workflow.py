"""The storm floor: the wakeup shape of figure (c) with none of the engine.

A bare workflow given the three moments a storm case wakes at (the 50 % and 75 % warnings, then the
deadline), in order. It keeps one timer for the next of them, as the engine keeps one for its earliest
wakeup, and at each wakeup runs one no-op LOCAL activity: the engine's escalation starts with its plan
(`plan_deliveries` / `plan_deliveries_and_project`), a local activity in the timer's workflow task, and
(c) times the plan's start. A wakeup already due when the workflow gets to it runs in the same task
without a timer (as the engine's catch-up folds late wakeups into one task). The deadline's timer is
summarised "escalate", like the engine's, so `bench.escalation.breakdown` reads both histories alike.

Kept free of project imports; its worker passes it through the sandbox, as the real worker does its
workflow's module (`recovery.sandbox`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

WAKEUP = "floor_storm_wakeup"
"""The no-op local activity's name (`bench.floor_storm.StormFloorRecorder.wakeup`)."""


@workflow.defn(name="FloorStormWorkflow")
class FloorStormWorkflow:
    @workflow.run
    async def run(self, wakeups: list[dict[str, Any]]) -> int:
        """`wakeups`: [{"name": "warn 50%" | "warn 75%" | "escalate", "at": epoch seconds}, …] in order."""
        done = 0
        for wakeup in wakeups:
            wait = float(wakeup["at"]) - workflow.now().timestamp()
            if wait > 0:
                await workflow.sleep(wait, summary=str(wakeup["name"]))
            await workflow.execute_local_activity(
                WAKEUP,
                {"wakeup": wakeup["name"]},
                start_to_close_timeout=timedelta(seconds=15),
                summary=str(wakeup["name"]),
            )
            done += 1
        return done

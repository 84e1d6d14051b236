"""The storm floor of figure (c): N bare workflows (`bench.floor_storm_workflow`) with the same three
coincident wakeups as a storm case (50 % and 75 % warnings, then the deadline), on a worker of their own
(`build_storm_floor_worker`, the real worker's options, its own task queue) in the same stack and
process as the storm's 1-process series. The delay per workflow is its deadline wakeup's no-op local
activity's start (wall clock, in the activity) minus the deadline: the same point (c) times in the
engine, the start of the escalation's plan. What the engine adds to a storm is (c) / floor."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from bench.common import bounded, percentile, say, summary
from bench.escalation import breakdown
from bench.floor_storm_workflow import WAKEUP, FloorStormWorkflow
from bench.metrics import ActionMeter, per
from bench.procs import CpuMeter
from recovery.sandbox import sharing_workflow_modules

RATIO_TARGETS = {200: 1.25, 1000: 1.25}
"""Targets for real p95 / floor p95 by storm size (1 worker process)."""


class StormFloorRecorder:
    """The no-op wakeup activity; notes when each workflow's deadline wakeup started (wall clock)."""

    def __init__(self) -> None:
        self.escalations: dict[str, float] = {}

    @activity.defn(name=WAKEUP)
    async def wakeup(self, inp: dict[str, Any]) -> None:
        if inp.get("wakeup") == "escalate":
            self.escalations.setdefault(activity.info().workflow_id or "", time.time())


def build_storm_floor_worker(
    client: Client, queue: str, recorder: StormFloorRecorder, max_cached_workflows: int = 10000
) -> Worker:
    """`worker.build_worker`'s options (cache, sandbox passing the workflow's module through, shutdown)."""
    return Worker(
        client,
        task_queue=queue,
        workflows=[FloorStormWorkflow],
        workflow_runner=sharing_workflow_modules(FloorStormWorkflow),
        activities=[recorder.wakeup],
        max_cached_workflows=max_cached_workflows,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def floor_storm(
    client: Client,
    queue: str,
    recorder: StormFloorRecorder,
    n: int,
    budget_s: int,
    concurrency: int,
    rate: float,
    meter: CpuMeter,
    actions: ActionMeter | None = None,
) -> dict[str, Any]:
    """N bare workflows started in a burst just before T0 (the same lead as the real storm's opens), each
    waking at T0 + budget/2, T0 + 3/4 budget and the deadline T0 + budget (T0 on a whole second)."""
    # on a whole second, as the real storm's T0 (a whole minute): the dev server fires a timer due between
    # seconds up to a second late (a smoke run's fractional deadlines: 0.58 s "fired late" at N = 10)
    t0 = float(math.ceil(time.time() + 3 + 1.5 * n / rate))
    deadline = t0 + budget_s
    wakeups = [
        {"name": "warn 50%", "at": t0 + 0.5 * budget_s},
        {"name": "warn 75%", "at": t0 + 0.75 * budget_s},
        {"name": "escalate", "at": deadline},
    ]
    nonce = uuid.uuid4().hex[:6]
    ids = [f"floor-storm-{nonce}-{i}" for i in range(n)]
    say(f"(c) floor: starting {n} bare workflows, deadline in {deadline - time.time():.1f} s")
    if actions:
        await actions.start()
    meter.start()
    burst_started = time.perf_counter()

    async def start(workflow_id: str) -> None:
        await client.start_workflow(FloorStormWorkflow.run, wakeups, id=workflow_id, task_queue=queue)

    await bounded(concurrency, ids, start)
    burst = time.perf_counter() - burst_started
    give_up = deadline + 60 + 0.2 * n
    while time.time() < give_up and not all(w in recorder.escalations for w in ids):
        await asyncio.sleep(0.2)
    seen = dict(recorder.escalations)
    cpu = meter.stop()
    storming = await actions.stop() if actions else None
    delays = [seen[w] - deadline for w in ids if w in seen]
    sample = [w for w in ids if w in seen][:: max(1, n // 20)][:20]
    parts = [p for p in await bounded(4, sample, lambda w: breakdown(client, w, deadline, seen[w])) if p is not None]
    split = {k: percentile([p[k] for p in parts], 50) for k in (parts[0] if parts else {}) if k != "started_at"}
    return {
        "n": n,
        "open_burst_s": round(burst, 2),
        "escalations_missing": n - len(delays),
        "delay_s": summary(delays),
        "median_split_s": split,
        "split_sample": len(parts),
        "cpu_seconds": cpu,
        "actions_per_case": None
        if storming is None
        else {"total": round(sum(storming.values()) / n, 2), "by_type": per(storming, n)},
    }

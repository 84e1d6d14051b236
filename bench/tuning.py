"""Optional (`--tuning`): real lifecycles/s under other worker options, to see which options matter.

Each variant is a fresh in-process worker on its own task queue with `worker.build_worker`'s activities
and options, one option changed, driven like figure (b) (same lifecycle, same concurrency)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.worker import Worker

from activities.compensation import Compensator
from activities.notifications import Notifier
from activities.store.projection import Projector
from bench.common import say, summary
from bench.lifecycle import lifecycle_policy, run_kind
from bench.procs import CpuMeter, Groups
from recovery.versioning import deployment_config
from workflows.complaint import ComplaintWorkflow


def variants(concurrency: int) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("as shipped (max_cached_workflows=10000)", {}),
        (
            f"max_cached_workflows={max(1, concurrency // 2)} (below the cases in flight)",
            {"max_cached_workflows": max(1, concurrency // 2)},
        ),
        ("max_concurrent_activities=4", {"max_concurrent_activities": 4}),
        ("max_concurrent_workflow_tasks=2", {"max_concurrent_workflow_tasks": 2}),
        ("disable_eager_activity_execution=True", {"disable_eager_activity_execution": True}),
    ]


def build(client: Client, pool: asyncpg.Pool, queue: str, overrides: dict[str, Any]) -> Worker:
    notifier, compensator = Notifier(None), Compensator.from_env(pool)
    options: dict[str, Any] = {"max_cached_workflows": 10000, "graceful_shutdown_timeout": timedelta(seconds=10)}
    options.update(overrides)
    return Worker(
        client,
        task_queue=queue,
        workflows=[ComplaintWorkflow],
        activities=[notifier.send, compensator.issue_compensation, Projector(pool).project_events],
        deployment_config=deployment_config(True),  # as worker.build_worker
        **options,
    )


async def tuning(
    client: Client, pool: asyncpg.Pool, lifecycles: int, concurrency: int, groups: Groups
) -> dict[str, Any]:
    policy = lifecycle_policy()
    meter = CpuMeter(groups)
    rows = []
    for label, overrides in variants(concurrency):
        queue = f"tune-{uuid.uuid4().hex[:6]}"
        async with build(client, pool, queue, overrides):
            await run_kind("real", client, queue, max(2, concurrency // 2), concurrency, policy, {}, f"tw{queue}", None)
            res = await run_kind("real", client, queue, lifecycles, concurrency, policy, {}, f"t{queue}", meter)
        say(f"(tuning) {label}: {res['per_second']:.2f} lifecycles/s")
        rows.append(
            {
                "variant": label,
                "options": {k: str(v) for k, v in overrides.items()},
                "per_second": round(res["per_second"], 3),
                "latency_s": summary(res["latencies"]),
                "cpu_ms_per_lifecycle": {k: round(1000 * v / lifecycles, 1) for k, v in res["cpu_seconds"].items()},
            }
        )
    return {"lifecycles": lifecycles, "concurrency": concurrency, "variants": rows}

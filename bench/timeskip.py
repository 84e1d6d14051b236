"""Figure (g): wall time of a 30-day case on the time-skipping test server (server start excluded).

The case opens, its acknowledge deadline passes (warnings, escalation), it is acknowledged late, then
the fix step sits for 30 simulated days (the ladder climbs to the top; the customer gets a status update
every day of silence), then fix, compensation, the follow-up (asked a day later), close. The age ceiling
is pushed out so it does not cut the ladder short. Measured: open → the workflow's closed result.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.notifications import Notifier
from bench.common import say, ticket, wall_policy
from bench.lifecycle import ACK, CLOSE, COMPENSATE, FIX, FOLLOW
from bench.procs import CpuMeter, children_named
from recovery.converter import data_converter
from starter.binaries import find_binary
from starter.cases import open_case, run_step, status, timeline
from worker import build_worker
from workflows import search_attributes as sa
from workflows.complaint import ComplaintWorkflow

_INDEXED = {
    "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "INT": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "DATETIME": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
}


async def register_search_attributes(client: Client) -> None:
    """As tests/conftest.py does: the time-skipping server knows no custom search attributes until told."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={key.name: _INDEXED[key.indexed_value_type.name] for key in sa.ALL},
        )
    )


async def thirty_day_case(
    env: WorkflowEnvironment, queue: str, key: str, days: int, max_silence: str = "24h"
) -> dict[str, Any]:
    client = env.client
    policy = wall_policy(
        ack="1h",
        fix="4h",
        compensate="4h",
        follow_up="1d",
        close="4h",
        interval="4h",
        max_silence=max_silence,
        age_ceiling="365d",
    )
    meter = CpuMeter({"worker": lambda: [os.getpid()], "test_server": lambda: children_named("temporal-test")})
    meter.start()
    started = time.perf_counter()
    opened = await open_case(client, ticket(key), policy, queue)
    await env.sleep(timedelta(hours=2))  # 1 h deadline missed: warnings, escalation
    await run_step(client, opened.case_id, ComplaintWorkflow.acknowledge, ACK)  # late
    await env.sleep(timedelta(days=days))  # the fix step sits: ladder to the top, daily updates
    await run_step(client, opened.case_id, ComplaintWorkflow.record_fix, FIX)
    await run_step(client, opened.case_id, ComplaintWorkflow.compensate, COMPENSATE)
    await env.sleep(timedelta(days=1, seconds=1))  # follow-up asked a day later
    await run_step(client, opened.case_id, ComplaintWorkflow.complete_follow_up, FOLLOW)
    await run_step(client, opened.case_id, ComplaintWorkflow.close, CLOSE)
    result = await client.get_workflow_handle(opened.workflow_id).result()
    wall = time.perf_counter() - started
    cpu = meter.stop()
    events = await timeline(client, opened.case_id)
    final = await status(client, opened.case_id)
    kinds: dict[str, int] = {}
    for event in events:
        kinds[event.type] = kinds.get(event.type, 0) + 1
    history = await client.get_workflow_handle(opened.workflow_id).fetch_history()
    return {
        "wall_s": wall,
        "simulated_days": round((final.closed_at - final.opened_at).total_seconds() / 86400, 2)
        if final.closed_at
        else None,
        "step": result.get("step") if isinstance(result, dict) else None,
        "escalation_level": final.escalation_level,
        "domain_events": len(events),
        "event_types": kinds,
        "history_events": len(history.events),
        "cpu_seconds": cpu,
    }


async def figure_g(pool: asyncpg.Pool, days: int = 30, variants: bool = True) -> dict[str, Any]:
    """The measured case runs after a first (cold) one and is followed by a variant without daily
    status updates; `variants=False` (--quick) runs the measured case alone, cold."""
    started = time.perf_counter()
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_binary("temporal-test-server"), data_converter=data_converter
    )
    server_start = time.perf_counter() - started
    try:
        await register_search_attributes(env.client)
        queue = f"skip-{uuid.uuid4().hex[:6]}"
        async with build_worker(env.client, pool=pool, queue=queue, notifier=Notifier(), versioning=False):
            say(
                f"(g): time-skipping server up in {server_start:.1f}s (excluded); "
                + ("a cold case, then the measured one" if variants else "the measured case (cold)")
            )
            cold = await thirty_day_case(env, queue, f"skipcold-{uuid.uuid4().hex[:6]}", days) if variants else None
            warm = await thirty_day_case(env, queue, f"skip-{uuid.uuid4().hex[:6]}", days)
            quiet = (
                await thirty_day_case(env, queue, f"skipq-{uuid.uuid4().hex[:6]}", days, max_silence="60d")
                if variants
                else None
            )
    finally:
        await env.shutdown()
    return {
        "value": warm["wall_s"],
        "unit": "s wall (open → closed)",
        "days_idle": days,
        "measured": warm,
        "first_case_in_fresh_worker_s": cold["wall_s"] if cold else warm["wall_s"],
        "without_daily_status_updates": {
            k: quiet[k] for k in ("wall_s", "domain_events", "history_events", "cpu_seconds")
        }
        if quiet
        else None,
        "server_start_s_excluded": round(server_start, 2),
    }

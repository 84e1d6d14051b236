"""Figures (a) and (b): complaint lifecycles per second through the floor and through the real workflow.

One lifecycle = open (update-with-start) → acknowledge → fix → compensate within authority → wait for the
follow-up to be asked (policy follow_up = 1 s; the client sleeps 1 s then polls a query every 0.1 s) →
complete the follow-up → close → the workflow's result. All three kinds (real, floor, and the fixed
reference of `bench/reference_workflow.py`) are driven with the same client calls at the same concurrency
against the same server, each by an in-process worker with the same options.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from activities.store.projection import stored_status
from bench.common import bounded, say, summary, ticket, wall_policy
from bench.floor import DEFAULT_PLAN, floor_id, history_shape, open_floor, plan_from_history, step_floor
from bench.floor_workflow import FloorWorkflow
from bench.procs import CpuMeter, Groups
from bench.reference import reference_id, reference_lifecycle
from bench.reference_workflow import ReferenceWorkflow
from starter.cases import open_case, run_step, status
from workflows.complaint import ComplaintWorkflow
from workflows.models import (
    AcknowledgeInput,
    Actor,
    CloseInput,
    CompensateInput,
    FixInput,
    FollowUpInput,
    workflow_id_for,
)
from workflows.policy import Policy

AGENT = Actor(id="alice", role="agent")
FOLLOW_UP_SECONDS = 1.0
POLL = 0.1

ACK = AcknowledgeInput(actor=AGENT, message="Sorry about the size.")
FIX = FixInput(actor=AGENT, description="Replacement in size M shipped.")
COMPENSATE = CompensateInput(actor=AGENT, kind="coupon", amount={"amount": "20.00", "currency": "USD"}, reason="sorry")
FOLLOW = FollowUpInput(actor=AGENT, outcome="satisfied", csat=5)
CLOSE = CloseInput(actor=AGENT, root_cause="wrong-item-shipped", note="Picking error at the warehouse.")


def lifecycle_policy() -> Policy:
    return wall_policy(ack="1h", fix="4h", compensate="4h", follow_up="1s", close="4h")


async def follow_up_asked(client: Client, case: str, pool: asyncpg.Pool | None) -> bool:
    """Whether the customer has been asked, from the read model as the console reads it (no query:
    each one is a worker round trip and a billable action); without a pool, by query."""
    if pool is None:
        return (await status(client, case)).deadlines.follow_up_asked
    snapshot = await stored_status(pool, workflow_id_for(case))
    return snapshot is not None and snapshot.deadlines.follow_up_asked


async def real_lifecycle(
    client: Client, queue: str, key: str, policy: Policy, pool: asyncpg.Pool | None = None
) -> float:
    started = time.perf_counter()
    opened = await open_case(client, ticket(key), policy, queue)
    case = opened.case_id
    await run_step(client, case, ComplaintWorkflow.acknowledge, ACK)
    await run_step(client, case, ComplaintWorkflow.record_fix, FIX)
    await run_step(client, case, ComplaintWorkflow.compensate, COMPENSATE)
    await asyncio.sleep(FOLLOW_UP_SECONDS)
    while not await follow_up_asked(client, case, pool):
        await asyncio.sleep(POLL)
    await run_step(client, case, ComplaintWorkflow.complete_follow_up, FOLLOW)
    await run_step(client, case, ComplaintWorkflow.close, CLOSE)
    await client.get_workflow_handle(opened.workflow_id).result()
    return time.perf_counter() - started


async def floor_lifecycle(client: Client, queue: str, key: str, policy: Policy, plan: dict[str, list[str]]) -> float:
    started = time.perf_counter()
    t = ticket(key)
    await open_floor(client, t, policy, queue, plan, FOLLOW_UP_SECONDS)
    case = t.case_key
    await step_floor(client, case, "acknowledge", ACK)
    await step_floor(client, case, "record_fix", FIX)
    await step_floor(client, case, "compensate", COMPENSATE)
    await asyncio.sleep(FOLLOW_UP_SECONDS)
    handle = client.get_workflow_handle(floor_id(case))
    while not await handle.query("follow_up_asked", result_type=bool):
        await asyncio.sleep(POLL)
    await step_floor(client, case, "complete_follow_up", FOLLOW)
    await step_floor(client, case, "close", CLOSE)
    await handle.result()
    return time.perf_counter() - started


PREFIX = {"real": "r", "floor": "f", "reference": "x"}

STEPS: dict[str, Any] = {
    "acknowledge": ACK,
    "record_fix": FIX,
    "compensate": COMPENSATE,
    "complete_follow_up": FOLLOW,
    "close": CLOSE,
}


async def ref_lifecycle(client: Client, queue: str, key: str) -> float:
    return await reference_lifecycle(client, queue, ticket(key), STEPS, FOLLOW_UP_SECONDS, POLL)


async def lifecycle(
    kind: str,
    client: Client,
    queue: str,
    key: str,
    policy: Policy,
    plan: dict[str, list[str]],
    pool: asyncpg.Pool | None = None,
) -> float:
    """One lifecycle of `kind` (real, floor or reference) with key `key`; the real one reads the read
    model from `pool` (the floor and the reference have none: they query)."""
    if kind == "real":
        return await real_lifecycle(client, queue, key, policy, pool)
    if kind == "floor":
        return await floor_lifecycle(client, queue, key, policy, plan)
    return await ref_lifecycle(client, queue, key)


def workflow_id_of(kind: str, key: str) -> str:
    case = ticket(key).case_key
    return workflow_id_for(case) if kind == "real" else floor_id(case) if kind == "floor" else reference_id(case)


async def replay_cpu_ms(
    workflow_class: type, history: WorkflowHistory, converter: DataConverter, times: int = 5
) -> float:
    """CPU milliseconds (this process) to replay one history: the workflow code's own cost for a whole
    lifecycle, without the server (the SDK's per-activation overhead included)."""
    replayer = Replayer(workflows=[workflow_class], data_converter=converter)
    await replayer.replay_workflow(history)  # warm: the sandbox prepares the module once
    started = time.process_time()
    for _ in range(times):
        await replayer.replay_workflow(history)
    return round(1000 * (time.process_time() - started) / times, 1)


async def count_shapes(
    client: Client,
    real_queue: str,
    floor_queue: str,
    reference_queue: str,
    replays: int = 5,
    pool: asyncpg.Pool | None = None,
) -> dict[str, Any]:
    """One real lifecycle, its history counted into the floor's plan; one floor lifecycle to compare (run
    beside it with the default plan, then checked against the counted one)."""
    policy = lifecycle_policy()
    key = f"shape-{uuid.uuid4().hex[:6]}"
    await asyncio.gather(
        real_lifecycle(client, real_queue, key, policy, pool),
        floor_lifecycle(client, floor_queue, key, policy, DEFAULT_PLAN),
        ref_lifecycle(client, reference_queue, key),
    )
    ref_history = await client.get_workflow_handle(reference_id(ticket(key).case_key)).fetch_history()
    real_history = await client.get_workflow_handle(workflow_id_for(ticket(key).case_key)).fetch_history()
    plan = plan_from_history(list(real_history.events))
    if sum(map(len, plan.values())) == 0:
        plan = DEFAULT_PLAN
    if plan != DEFAULT_PLAN:  # the real workflow changed shape: the floor follows it
        key = f"shape2-{uuid.uuid4().hex[:6]}"
        await floor_lifecycle(client, floor_queue, key, policy, plan)
    floor_history = await client.get_workflow_handle(floor_id(ticket(key).case_key)).fetch_history()
    real_shape, floor_shape = history_shape(list(real_history.events)), history_shape(list(floor_history.events))
    real_shape["replay_cpu_ms"] = await replay_cpu_ms(ComplaintWorkflow, real_history, client.data_converter, replays)
    floor_shape["replay_cpu_ms"] = await replay_cpu_ms(FloorWorkflow, floor_history, client.data_converter, replays)
    ref_shape = history_shape(list(ref_history.events))
    ref_shape["replay_cpu_ms"] = await replay_cpu_ms(ReferenceWorkflow, ref_history, client.data_converter, replays)
    return {"plan": plan, "real": real_shape, "floor": floor_shape, "reference": ref_shape}


async def run_kind(
    kind: str,
    client: Client,
    queue: str,
    count: int,
    concurrency: int,
    policy: Policy,
    plan: dict[str, list[str]],
    tag: str,
    meter: CpuMeter | None,
    pool: asyncpg.Pool | None = None,
) -> dict[str, Any]:
    keys = [f"{PREFIX[kind]}{tag}-{i}" for i in range(count)]

    async def one(key: str) -> float:
        return await lifecycle(kind, client, queue, key, policy, plan, pool)

    if meter:
        meter.start()
    started = time.perf_counter()
    latencies = await bounded(concurrency, keys, one)
    elapsed = time.perf_counter() - started
    cpu = meter.stop() if meter else {}
    return {
        "lifecycles": count,
        "seconds": elapsed,
        "per_second": count / elapsed,
        "latencies": latencies,
        "cpu_seconds": cpu,
    }


async def figures_a_b(
    client: Client,
    real_queue: str,
    floor_queue: str,
    reference_queue: str,
    *,
    lifecycles: int,
    concurrency: int,
    rounds: int,
    warmup: int,
    cpu_groups: Groups,
    replays: int = 5,
    pool: asyncpg.Pool | None = None,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    say("(a)/(b): counting a real lifecycle's history")
    shapes = await count_shapes(client, real_queue, floor_queue, reference_queue, replays, pool)
    plan = shapes["plan"]
    policy = lifecycle_policy()
    nonce = uuid.uuid4().hex[:4]
    say(f"(a)/(b): warm-up, {warmup} lifecycles of each")
    order = (("floor", floor_queue), ("real", real_queue), ("reference", reference_queue))
    for kind, queue in order:
        if warmup:
            await run_kind(kind, client, queue, warmup, concurrency, policy, plan, f"w{nonce}", None, pool)
    per_round = max(1, lifecycles // rounds)
    results: dict[str, list[dict[str, Any]]] = {"floor": [], "real": [], "reference": []}
    meter = CpuMeter(cpu_groups)
    for r in range(rounds):
        for kind, queue in order if r % 2 == 0 else reversed(order):
            say(f"(a)/(b): round {r + 1}/{rounds}: {per_round} {kind} lifecycles at concurrency {concurrency}")
            res = await run_kind(kind, client, queue, per_round, concurrency, policy, plan, f"r{r}{nonce}", meter, pool)
            say(f"        {res['per_second']:.2f} lifecycles/s")
            results[kind].append(res)

    def combine(kind: str) -> dict[str, Any]:
        runs = results[kind]
        total = sum(r["lifecycles"] for r in runs)
        seconds = sum(r["seconds"] for r in runs)
        latencies = [x for r in runs for x in r["latencies"]]
        cpu: dict[str, float] = {}
        for r in runs:
            for name, value in r["cpu_seconds"].items():
                cpu[name] = cpu.get(name, 0.0) + value
        return {
            "value": total / seconds,
            "unit": "lifecycles/s",
            "lifecycles": total,
            "seconds": round(seconds, 3),
            "concurrency": concurrency,
            "rounds": [round(r["per_second"], 3) for r in runs],
            "latency_s": summary(latencies),
            "cpu_ms_per_lifecycle": {name: round(1000 * v / total, 1) for name, v in cpu.items()},
            "history": shapes[kind],
        }

    a, b = combine("floor"), combine("real")
    a["plan"] = plan
    b["reference"] = combine("reference")
    return a, b, shapes


# re-exported for type hints in callers
__all__ = ["AGENT", "figures_a_b", "floor_lifecycle", "lifecycle", "lifecycle_policy", "real_lifecycle"]

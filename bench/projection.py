"""Figure (e): projection lag — from the moment a step's update returns (its domain event is in the
workflow) to the read-model row (`cases.last_seq`) reaching that event's sequence. The open (seq 1),
acknowledge, fix and compensate of each case are sampled; the row is polled every POLL seconds."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
from temporalio.client import Client

from bench.common import bounded, say, summary, ticket
from bench.lifecycle import ACK, COMPENSATE, FIX, lifecycle_policy
from starter.cases import open_case, run_step
from workflows.complaint import ComplaintWorkflow

POLL = 0.005


FIRST_POLL_HITS: list[bool] = []


async def _lag(pool: asyncpg.Pool, workflow_id: str, seq: int, returned: float, timeout: float = 30.0) -> float:
    polls = 0
    while True:
        last = await pool.fetchval("SELECT last_seq FROM cases WHERE workflow_id = $1", workflow_id)
        now = time.perf_counter()
        polls += 1
        if last is not None and last >= seq:
            FIRST_POLL_HITS.append(polls == 1)
            return now - returned
        if now - returned > timeout:
            raise TimeoutError(f"{workflow_id} seq {seq} not in the read model after {timeout}s")
        await asyncio.sleep(POLL)


async def figure_e(client: Client, pool: asyncpg.Pool, queue: str, cases: int, concurrency: int) -> dict[str, Any]:
    policy = lifecycle_policy()
    nonce = uuid.uuid4().hex[:6]
    samples: dict[str, list[float]] = {"open": [], "acknowledge": [], "record_fix": [], "compensate": []}

    async def one(i: int) -> None:
        opened = await open_case(client, ticket(f"proj{nonce}-{i}"), policy, queue)
        samples["open"].append(await _lag(pool, opened.workflow_id, 1, time.perf_counter()))
        steps: tuple[tuple[Callable[..., Any], Any], ...] = (
            (ComplaintWorkflow.acknowledge, ACK),
            (ComplaintWorkflow.record_fix, FIX),
            (ComplaintWorkflow.compensate, COMPENSATE),
        )
        for update, inp in steps:
            result = await run_step(client, opened.case_id, update, inp)
            returned = time.perf_counter()
            samples[update.__name__].append(await _lag(pool, opened.workflow_id, result.last_event_seq, returned))

    FIRST_POLL_HITS.clear()
    say(f"(e): {cases} cases × 4 steps at concurrency {concurrency}, read model polled every {POLL * 1000:.0f} ms")
    await bounded(concurrency, range(cases), one)
    every = [x for values in samples.values() for x in values]
    overall = summary(every)
    return {
        "value": overall["p95"],
        "unit": "s (p95)",
        "lag_s": overall,
        "by_step": {step: summary(values) for step, values in samples.items()},
        "row_already_there": sum(FIRST_POLL_HITS),
        "poll_s": POLL,
        "concurrency": concurrency,
    }

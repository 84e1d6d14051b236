"""Figure (f): worker memory per cached open case.

A worker SUBPROCESS (`python -m worker` for the real workflow, `python -m bench.floor_worker` for the
floor) on its own task queue; its VmRSS (/proc/<pid>/status) is read before any case, after a warm-up
(the first workflows load the sandbox's module copies), and after each chunk of newly opened cases, which
stay open (deadlines an hour away) and so stay in the worker's cache (max_cached_workflows = 10000). The
slope is the least-squares fit of RSS over the number of open cases after the warm-up.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client

from bench.common import bounded, rss_kib, say, slope, subprocess_env, ticket, wall_policy
from bench.floor import open_floor
from bench.subprocesses import start_logged, stop
from starter.cases import open_case


async def _start(kind: str, address: str, database_url: str, queue: str, log: Path) -> subprocess.Popen[bytes]:
    module = "worker" if kind == "real" else "bench.floor_worker"
    marker = b"worker started" if kind == "real" else b"floor worker started"
    env = subprocess_env(
        TEMPORAL_ADDRESS=address, DATABASE_URL=database_url, RECOVERY_TASK_QUEUE=queue, RECOVERY_LOG_LEVEL="INFO"
    )
    env.pop("RECOVERY_METRICS_ADDRESS", None)
    return await start_logged([sys.executable, "-m", module], env, log, marker)


async def measure(
    kind: str,
    client: Client,
    address: str,
    database_url: str,
    cases: int,
    warmup: int,
    chunks: int,
    concurrency: int,
    plan: dict[str, list[str]],
    log: Path,
    settle: float,
) -> dict[str, Any]:
    queue = f"mem-{kind}-{uuid.uuid4().hex[:6]}"
    policy = wall_policy(ack="1h")
    proc = await _start(kind, address, database_url, queue, log)
    nonce = uuid.uuid4().hex[:6]
    opened = 0

    async def open_some(count: int) -> None:
        nonlocal opened
        keys = [f"m{kind[0]}{nonce}-{opened + i}" for i in range(count)]
        if kind == "real":
            await bounded(concurrency, keys, lambda k: open_case(client, ticket(k), policy, queue))
        else:
            await bounded(concurrency, keys, lambda k: open_floor(client, ticket(k), policy, queue, plan, 1.0))
        opened += count
        await asyncio.sleep(settle)  # the opening's activities (notification, projection) finish

    try:
        await asyncio.sleep(settle)
        rss_idle = rss_kib(proc.pid)
        await open_some(warmup)
        points = [(opened, rss_kib(proc.pid))]
        per_chunk = max(1, cases // chunks)
        while opened < warmup + cases:
            await open_some(min(per_chunk, warmup + cases - opened))
            points.append((opened, rss_kib(proc.pid)))
    finally:
        await stop(proc, grace_s=20)
    fitted = slope([(float(x), float(y)) for x, y in points])
    return {
        "rss_idle_kib": rss_idle,
        "rss_after_warmup_kib": points[0][1],
        "rss_final_kib": points[-1][1],
        "open_cases": opened,
        "points": points,
        "kib_per_case": round(fitted, 2) if fitted is not None else None,
        "kib_per_case_endpoints": round((points[-1][1] - points[0][1]) / max(1, points[-1][0] - points[0][0]), 2),
    }


async def figure_f(
    client: Client,
    address: str,
    database_url: str,
    cases: int,
    warmup: int,
    chunks: int,
    concurrency: int,
    plan: dict[str, list[str]],
    tmp: Path,
    settle: float = 1.0,
) -> dict[str, Any]:
    results = {}
    for kind in ("floor", "real"):
        say(f"(f): {kind} worker subprocess: {warmup} warm-up cases, then {cases} cases in {chunks} chunks")
        results[kind] = await measure(
            kind,
            client,
            address,
            database_url,
            cases,
            warmup,
            chunks,
            concurrency,
            plan,
            tmp / f"memory-{kind}.log",
            settle,
        )
        say(
            f"        {kind}: {results[kind]['kib_per_case']} KiB/case "
            f"(RSS {results[kind]['rss_idle_kib'] / 1024:.0f} → {results[kind]['rss_final_kib'] / 1024:.0f} MiB)"
        )
    real, floor = results["real"]["kib_per_case"], results["floor"]["kib_per_case"]
    return {
        "value": real / floor if real and floor and floor > 0 else None,
        "unit": "x floor (KiB/case real / floor)",
        "real": results["real"],
        "floor": results["floor"],
        "real_kib_per_case": real,
        "floor_kib_per_case": floor,
    }

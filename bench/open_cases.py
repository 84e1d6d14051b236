"""Figure (k): N open cases at once (20,000 by default), deadlines hours away, on one worker process.

The production worker (`worker.build_worker` in `python -m bench.open_cases_worker`, a subprocess on
its own task queue, its SDK metrics on a Prometheus port) and the bench's dev server and PostgreSQL.
In order:

1. **open** N cases by update-with-start (`starter.cases.open_case`, the production path), `concurrency`
   in flight: first N - wave - C (their rate plans the wave), then the `wave` cases, then C more, C =
   the cache size (at most 4/5 of N). The wave cases' policy has a business calendar whose working
   hours begin at a whole minute T0 after they are open, so their 50 % warnings all fall at
   W = T0 + budget / 2, a little after the last case is open and the idle window is over; every other
   case acknowledges in 8 h (its first warning 4 h away). A sampler reads the worker's and the dev
   server's VmRSS as cases open.
2. **cache**: the worker keeps at most `max_cached_workflows` cases; the C cases opened after the wave
   make the wave cases the least recently used, and so evicted. KiB per cached case is the RSS
   slope while the cache fills; once it is full the RSS should stay flat.
3. **replay**: a sample of the wave cases' histories replayed in this process (the sandbox runner the
   worker uses): what the worker does for an evicted case when its timer fires.
4. **idle**: CPU seconds of the dev server, the worker and PostgreSQL over `idle_s` with nothing due.
5. **wave**: the 1,000 warnings at W: each case's delay from W to its warning's plan starting in the
   worker (the worker's own `notification` log line), and the worker's sticky-cache misses and replay
   latency (`temporal_workflow_task_replay_latency`) over the wave.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.worker import Replayer

from bench import memory_probe, server_counters
from bench.common import bounded, free_port, percentile, rss_kib, say, slope, summary, ticket, wall_policy
from bench.escalation import storm_policy
from bench.open_cases_process import WarningLog, cache_counters, histogram, scrape, start_worker, stop_worker
from bench.procs import CpuMeter, Groups
from recovery.sandbox import sharing_workflow_modules
from starter.cases import open_case
from starter.server_errors import CaseError
from worker import build_worker
from workflows.complaint import ComplaintWorkflow

CONFIGURED_CACHE = int(inspect.signature(build_worker).parameters["max_cached_workflows"].default)
"""`max_cached_workflows` as `worker.build_worker` configures it (what `python -m worker` runs with)."""

OPEN_ATTEMPTS = 12
"""Attempts per open (about 2 minutes) before it counts as failed (`open.failed`); each retry is counted
in `open.retries`."""

LONG_ACK = "8h"
"""The acknowledge budget of every case outside the wave: its first warning 4 h away."""


@dataclass
class Opening:
    """The cases opened so far and the RSS samples taken meanwhile."""

    opened: int = 0
    latencies: list[float] = field(default_factory=list)
    retries: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    points: list[tuple[int, int, int]] = field(default_factory=list)
    """(cases open, worker RSS KiB, dev server RSS KiB)."""
    memory_at_full: dict[str, Any] | None = None
    """The worker's memory probe once its cache was full ({} if it did not answer)."""


def rss_of(pids: list[int]) -> int:
    out = 0
    for pid in pids:
        try:
            out += rss_kib(pid)
        except (OSError, RuntimeError):
            pass
    return out


async def quiet(groups: Groups, timeout: float, threshold: float = 0.1, window: float = 2.0) -> float:
    """Wait until the groups together use under `threshold` of a core over `window` s; the wait."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        meter = CpuMeter(groups)
        meter.start()
        await asyncio.sleep(window)
        if sum(meter.stop().values()) / window < threshold:
            break
    return round(time.monotonic() - started, 1)


async def replay_cost(client: Client, workflow_ids: list[str]) -> dict[str, Any]:
    """Wall ms to replay each history (after one warm-up replay), in the worker's sandbox runner."""
    histories = [await client.get_workflow_handle(w).fetch_history() for w in workflow_ids]
    if not histories:
        return {"n": 0}
    replayer = Replayer(
        workflows=[ComplaintWorkflow],
        data_converter=client.data_converter,
        workflow_runner=sharing_workflow_modules(ComplaintWorkflow),
    )
    await replayer.replay_workflow(histories[0])
    times = []
    for history in histories:
        started = time.perf_counter()
        await replayer.replay_workflow(history)
        times.append(1000 * (time.perf_counter() - started))
    return {
        "n": len(times),
        "history_events": percentile([len(h.events) for h in histories], 50),
        "ms": summary(times),
    }


async def idle_cpu(groups: Groups, seconds: float, when: str, server_metrics: str | None = None) -> dict[str, Any]:
    """CPU seconds of each group over `seconds` with nothing due, and the cores they averaged; the
    CPU-s of each half apart (work that fades is a tail, work that stays is steady), and what the
    dev server counted meanwhile (`server_counters`)."""
    idle: dict[str, Any] = {"seconds": round(max(0.0, seconds), 1), "when": when}
    if seconds > 0:
        before = await server_counters.read(server_metrics) if server_metrics else None
        meter = CpuMeter(groups)
        meter.start()
        await asyncio.sleep(seconds / 2)
        first = meter.stop()
        await asyncio.sleep(seconds / 2)
        cpu = meter.stop()
        after = await server_counters.read(server_metrics) if server_metrics else None
        second = {name: round(used - first[name], 3) for name, used in cpu.items()}
        idle |= {"cpu_s": cpu, "cores": round(sum(cpu.values()) / seconds, 4), "halves_cpu_s": [first, second]}
        idle["server"] = server_counters.grown(before, after)
    return idle


def memory_growth(at_full: dict[str, Any] | None, all_open: dict[str, Any] | None) -> dict[str, Any] | None:
    """Where the worker's RSS grew from a full cache to every case open (KiB, per `memory_probe`),
    and what garbage collection and malloc_trim gave back with every case open."""
    if not at_full or not all_open:
        return None
    now, trimmed = all_open["before"], all_open["after"]
    growth = {key: now[key] - at_full[key] for key in now if key != "kind" and key in at_full}
    parts = ("malloc_in_use_kib", "malloc_free_kib", "malloc_mmapped_kib", "pymalloc_arenas_kib")
    if set(parts) <= growth.keys():
        # the rest: thread stacks, mapped files and pages of free malloc memory never touched again
        growth["elsewhere_kib"] = growth["rss_kib"] - sum(growth[part] for part in parts)
    return {
        "at_cache_full": at_full,
        "all_open": now,
        "growth": growth,
        "after_gc_and_trim": trimmed,
        "trim_returned_kib": now["rss_kib"] - trimmed["rss_kib"],
        "gc_collected": all_open["collected"],
        "trim_ms": all_open["trim_ms"],
    }


def _plan(
    now: datetime, rate: float, wave: int, after: int, idle_s: float, coincide: bool
) -> tuple[datetime | None, int]:
    """T0 (a whole minute after the `wave` cases about to open are open; None: no calendar) and the
    wave's budget in seconds, so that its warnings (at T0 + budget / 2) fall after the `after` cases
    opened behind them, the settling and the idle window, at `rate` opens/s with a margin."""
    margin = 50 if coincide else 8  # the settling after the last open and the replay sample
    end = now + timedelta(seconds=1.4 * (wave + after) / rate + idle_s + margin)
    if not coincide:
        return None, 2 * math.ceil((end - now).total_seconds())
    t0 = (now + timedelta(seconds=5 + 1.5 * wave / rate)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    half = max(120, math.ceil((end - t0).total_seconds()))
    if (t0 + timedelta(seconds=2 * half)).date() != now.date():
        raise RuntimeError("the wave's working hours would cross midnight UTC: run it another time")
    return t0, 2 * half


async def figure_k(
    client: Client,
    address: str,
    database_url: str,
    tmp: Path,
    groups: Groups,
    n: int,
    wave: int,
    idle_s: float,
    concurrency: int,
    cache: int | None = None,
    coincide: bool = True,
    server_metrics: str | None = None,
) -> dict[str, Any]:
    """The figure (see the module's doc). `cache`: the worker's max_cached_workflows (None: as
    configured). `coincide=False` (the smoke run): no wait for a whole minute, each wave case's warning
    falls budget / 2 after its own open. `server_metrics`: the dev server's Prometheus URL."""
    cache_size = cache if cache is not None else CONFIGURED_CACHE
    queue = f"open-{uuid.uuid4().hex[:6]}"
    log = tmp / "open-cases-worker.log"
    probe = tmp / "open-cases-memory.jsonl"
    metrics = f"127.0.0.1:{free_port()}"
    metrics_url = f"http://{metrics}/metrics"
    nonce = uuid.uuid4().hex[:6]
    # opened after the wave: as many as the cache holds (the wave is then its least recently used),
    # leaving at least a fifth of the cases before the wave to measure the rate the wave is planned by
    behind = max(0, min(cache_size, n - wave - max(1, n // 5)))
    before_wave = n - wave - behind
    say(f"(k): worker subprocess (max_cached_workflows {cache_size}); opening {n} cases, {wave} in the wave")
    proc = await start_worker(address, database_url, queue, log, metrics, cache, probe)
    server = groups["temporal"]
    groups = {"temporal": server, "postgres": groups["postgres"], "worker": lambda: [proc.pid]}
    state = Opening()
    long_policy = wall_policy(ack=LONG_ACK)
    started_at: dict[str, float] = {}

    async def one(key: str, policy: Any) -> str | None:
        t = time.time()
        for attempt in range(1, OPEN_ATTEMPTS + 1):
            try:
                result = await open_case(client, ticket(key), policy, queue)
                break
            except CaseError as err:
                # as a client would: on a starved machine a workflow task can time out under the update
                state.retries.append(f"{key}: {err}")
                if len(state.retries) <= 3:
                    say(f"(k): open of {key} refused ({err}); retrying")
                if attempt == OPEN_ATTEMPTS:
                    state.failed.append(key)  # the workflow may exist; its contact was not taken
                    return None
                await asyncio.sleep(min(2.0 * attempt, 15.0))
        state.latencies.append(time.time() - t)
        state.opened += 1
        started_at[result.workflow_id] = t
        return result.workflow_id

    async def sampler(interval: float) -> None:
        while True:
            state.points.append((state.opened, rss_of([proc.pid]), rss_of(server())))
            if state.memory_at_full is None and n > cache_size and state.opened >= cache_size:
                state.memory_at_full = await memory_probe.ask(proc.pid, probe, "look") or {}
            await asyncio.sleep(interval)

    try:
        await asyncio.sleep(1.0)
        rss_start = (rss_of([proc.pid]), rss_of(server()))
        t_open = time.perf_counter()
        sampling = asyncio.create_task(sampler(0.5 if n < 1000 else 5.0))
        # the cases before the wave (their rate plans it), the wave, then enough to evict the wave
        keys = [f"k{nonce}-c{i}" for i in range(n - wave - behind)]
        await bounded(concurrency, keys, lambda k: one(k, long_policy))
        rate = len(keys) / (time.perf_counter() - t_open)
        t0, budget = _plan(datetime.now(UTC), rate, wave, behind, idle_s, coincide)
        wave_policy = storm_policy(t0, budget) if t0 is not None else wall_policy(ack=f"{budget}s")
        say(
            f"(k): {before_wave} cases open at {rate:.1f}/s; wave: {wave} cases, budget {budget} s, "
            + (f"warnings at {t0 + timedelta(seconds=budget / 2):%H:%M:%S} UTC" if t0 else "warnings spread")
        )
        keys = [f"k{nonce}-w{i}" for i in range(wave)]
        wave_ids = [w for w in await bounded(concurrency, keys, lambda k: one(k, wave_policy)) if w is not None]
        wave_opened = datetime.now(UTC)
        keys = [f"k{nonce}-o{i}" for i in range(behind)]
        await bounded(concurrency, keys, lambda k: one(k, long_policy))
        open_s = time.perf_counter() - t_open
        say(f"(k): {n} cases open in {open_s:.0f} s ({n / open_s:.1f}/s)")
        settle_s = await quiet(groups, 120 if coincide else 10)
        sampling.cancel()
        rss_open = (rss_of([proc.pid]), rss_of(server()))
        state.points.append((state.opened, *rss_open))
        memory_all_open = await memory_probe.ask(proc.pid, probe, "trim") if n > cache_size else None
        cached = cache_counters(await scrape(metrics_url))
        replay = await replay_cost(client, wave_ids[:: max(1, wave // 10)][:10])
        due = {
            w: (max(t0.timestamp(), started_at[w]) if t0 is not None else started_at[w]) + budget / 2 for w in wave_ids
        }
        wave_at = min(due.values())
        # idle: what is left before the wave (less a margin), at most idle_s
        idle = await idle_cpu(groups, min(idle_s, wave_at - time.time() - 3), "before the wave", server_metrics)
        say(f"(k): idle {idle}; waiting for the wave")
        before = await scrape(metrics_url)
        warnings = WarningLog(log)
        warnings.read()
        meter = CpuMeter(groups)
        meter.start()
        give_up = max(due.values()) + 60 + 0.2 * wave
        while time.time() < give_up and not all(w in warnings.read() for w in wave_ids):
            await asyncio.sleep(0.5)
        wave_cpu = meter.stop()
        await asyncio.sleep(2.0)  # the SDK exports its metrics every second
        after = await scrape(metrics_url)
        seen = warnings.read()
        if idle["seconds"] < 0.9 * idle_s and t0 is not None:
            # the opening overran: the idle window after the wave, before its 75 % warnings
            idle = await idle_cpu(
                groups, min(idle_s, wave_at + budget / 4 - time.time() - 3), "after the wave", server_metrics
            )
            say(f"(k): idle {idle}")
    finally:
        await stop_worker(proc)
    # the SDK's deadlock detector (TMPRL1101): an activation that did not yield within 2 s fails its task
    deadlocks = log.read_bytes().count(b"Potential deadlock detected")
    delays = [seen[w] - due[w] for w in wave_ids if w in seen]
    # the slope from past the warm-up (the first cases load the sandbox's modules) to a full cache
    fill = [(float(x), float(y)) for x, y, _ in state.points if max(1, cache_size // 20) <= x <= cache_size]
    per_case = slope(fill)
    at_full = next((p for p in state.points if p[0] >= cache_size), None)
    d = summary(delays)
    return {
        "value": d["p95"],
        "unit": f"s (p95 warning delay, wave of {wave} of {n} open cases)",
        "n": n,
        "wave": wave,
        "max_cached_workflows": cache_size,
        "configured_max_cached_workflows": CONFIGURED_CACHE,
        "evicted_at_wave": max(0, n - cache_size),
        "open": {
            "seconds": round(open_s, 1),
            "per_s": round(n / open_s, 1),
            "before_wave": before_wave,
            "before_wave_per_s": round(rate, 1),
            "after_wave": behind,
            "concurrency": concurrency,
            "latency_s": summary(state.latencies),
            "retries": len(state.retries),
            "retried": state.retries[:5],
            "failed": state.failed,
            "worker_deadlock_errors": deadlocks,
            "wave_opened_at": wave_opened.isoformat(timespec="seconds"),
            "settle_s": settle_s,
        },
        "rss_kib": {
            "worker_start": rss_start[0],
            "server_start": rss_start[1],
            "worker_cache_full": at_full[1] if at_full else None,
            "worker_all_open": rss_open[0],
            "server_all_open": rss_open[1],
            "points": state.points[:: max(1, len(state.points) // 60)],
        },
        "worker_kib_per_cached_case": round(per_case, 1) if per_case is not None else None,
        "worker_all_open_over_cache_full": round(rss_open[0] / at_full[1], 3) if at_full and n > cache_size else None,
        "worker_memory": memory_growth(state.memory_at_full, memory_all_open),
        "cache": cached,
        "replay_offline": replay,
        "idle": idle,
        "wave_result": {
            "at": datetime.fromtimestamp(wave_at, UTC).isoformat(timespec="seconds"),
            "budget_s": budget,
            "coincide": t0 is not None,
            "seen": len(delays),
            "missing": wave - len(delays),
            "delay_s": d,
            "cpu_s": wave_cpu,
            "cache": {k: v - cache_counters(before)[k] for k, v in cache_counters(after).items() if k != "size"},
            "replay_latency_ms": histogram(before, after, "workflow_task_replay_latency"),
            "task_execution_latency_ms": histogram(before, after, "workflow_task_execution_latency"),
        },
    }

"""Figure (k)'s worker subprocess seen from the bench: starting and stopping it, the warnings in its
JSON log, and its SDK metrics (sticky cache, replay latency) from its Prometheus port."""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import subprocess_env
from bench.memory_probe import PROBE_ENV
from bench.metrics import parse_prometheus
from bench.storm_workers import EscalationLog
from bench.subprocesses import start_logged, stop


class WarningLog(EscalationLog):
    """When each case's first 50 % warning's plan started in the worker, from its JSON log."""

    def read(self) -> dict[str, float]:
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        # two threads' lines can be written glued together ("}{"): split them again
        for line in complete.replace(b"}{", b"}\n{").splitlines():
            if b'"warning"' not in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == "notification" and entry.get("template") == "warning":
                self.escalations.setdefault(
                    entry["workflow_id"], datetime.fromisoformat(entry["timestamp"]).timestamp()
                )
        return self.escalations


# ---- the worker process and its metrics ----------------------------------------------------------


async def start_worker(
    address: str, database_url: str, queue: str, log: Path, metrics: str, cache: int | None, probe: Path
) -> subprocess.Popen[bytes]:
    """`python -m bench.open_cases_worker`, logging to `log`, answering memory probes in `probe`."""
    env = subprocess_env(
        **{PROBE_ENV: str(probe)},
        TEMPORAL_ADDRESS=address,
        DATABASE_URL=database_url,
        RECOVERY_TASK_QUEUE=queue,
        RECOVERY_LOG_LEVEL="INFO",
        RECOVERY_METRICS_ADDRESS=metrics,
    )
    command = [sys.executable, "-m", "bench.open_cases_worker"]
    if cache is not None:
        command += ["--max-cached-workflows", str(cache)]
    return await start_logged(command, env, log, b"worker started")


async def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    await stop(proc)


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(url: str) -> Samples:
    def get() -> str:
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())

    return parse_prometheus(await asyncio.to_thread(get))


def total(samples: Samples, name: str, **where: str) -> float:
    """The sum of a metric's samples (`temporal_` prefixed, with or without `_total`) matching `where`."""
    names = {f"temporal_{name}", f"temporal_{name}_total"}
    return sum(
        v
        for (n, labels), v in samples.items()
        if n in names and all(dict(labels).get(k) == x for k, x in where.items())
    )


def histogram(before: Samples, after: Samples, name: str) -> dict[str, Any]:
    """A histogram's observations between two scrapes: count, mean and bucket-interpolated p50 / p95
    (in the metric's unit: milliseconds, the SDK's default)."""
    buckets: dict[float, float] = {}
    for (n, labels), v in after.items():
        if n == f"temporal_{name}_bucket":
            le = dict(labels).get("le", "+Inf")
            bound = math.inf if le in ("+Inf", "inf") else float(le)
            buckets[bound] = buckets.get(bound, 0.0) + v - before.get((n, labels), 0.0)
    count = total(after, f"{name}_count") - total(before, f"{name}_count")
    sum_ = total(after, f"{name}_sum") - total(before, f"{name}_sum")

    def quantile(q: float) -> float | None:
        if count <= 0:
            return None
        rank, lower, below = q * count, 0.0, 0.0
        for bound in sorted(buckets):
            if buckets[bound] >= rank:
                if math.isinf(bound):
                    return lower
                inside = buckets[bound] - below
                return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
            lower, below = bound, buckets[bound]
        return lower

    return {
        "count": int(count),
        "mean": round(sum_ / count, 2) if count else None,
        "p50": quantile(0.5),
        "p95": quantile(0.95),
    }


def cache_counters(samples: Samples) -> dict[str, float]:
    return {
        "size": total(samples, "sticky_cache_size"),
        "hits": total(samples, "sticky_cache_hit"),
        "misses": total(samples, "sticky_cache_miss"),
        "forced_evictions": total(samples, "sticky_cache_total_forced_eviction"),
    }

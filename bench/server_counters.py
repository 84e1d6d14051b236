"""What the dev server did over a window, from its Prometheus endpoint: the counters that grew
(persistence calls by operation, task processing, ...) and its Go garbage collector's cycles.

Figure (k) reads it around its idle window, so an idle server's CPU is told by the work it counted.
"""

from __future__ import annotations

import asyncio
import urllib.request
from typing import Any

from bench.metrics import Sample, parse_prometheus

KEPT_LABELS = ("operation", "service_name", "task_type", "queue_type")
"""The labels a grown counter is reported by; the others (namespace, task queue, ...) are summed."""


class Reading:
    """One scrape: its counters' samples, and the Go runtime's GC totals."""

    def __init__(self, text: str):
        lines = text.splitlines()
        counters = {line.split()[2] for line in lines if line.startswith("# TYPE") and line.endswith(" counter")}
        samples = parse_prometheus(text)
        self.counters: dict[Sample, float] = {}
        for (name, labels), value in samples.items():
            if name in counters or name.removesuffix("_total") in counters:
                key = (name, tuple((k, v) for k, v in labels if k in KEPT_LABELS))
                self.counters[key] = self.counters.get(key, 0.0) + value
        self.gc_cycles = sum(v for (n, _), v in samples.items() if n == "memory_gc_pause_ms_count")
        self.gc_pause_ms = sum(v for (n, _), v in samples.items() if n == "memory_gc_pause_ms_sum")
        self.heap_in_use = sum(v for (n, _), v in samples.items() if n == "memory_heapinuse")


async def read(url: str) -> Reading | None:
    """A scrape of `url`, or None when the server does not answer (the figure goes on without it)."""

    def get() -> str:
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())

    try:
        return Reading(await asyncio.to_thread(get))
    except OSError:
        return None


def grown(before: Reading | None, after: Reading | None, top: int = 12) -> dict[str, Any] | None:
    """The `top` counters that grew most between two readings, and the GC cycles between them."""
    if before is None or after is None:
        return None
    deltas = sorted(
        ((value - before.counters.get(key, 0.0), key) for key, value in after.counters.items()),
        reverse=True,
    )
    return {
        "counters": [
            {"metric": name, **dict(labels), "delta": round(delta)}
            for delta, (name, labels) in deltas[:top]
            if delta > 0
        ],
        "gc_cycles": round(after.gc_cycles - before.gc_cycles),
        "gc_pause_ms": round(after.gc_pause_ms - before.gc_pause_ms, 1),
        "heap_in_use_mib": round(after.heap_in_use / 2**20, 1),
    }

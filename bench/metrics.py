"""The dev server's own count of billable actions, from its Prometheus `/metrics` endpoint.

`temporal server start-dev --metrics-port P` serves Temporal's metrics in the Prometheus text format;
its `action` counter (labels `namespace`, `action_type`) is what Temporal Cloud bills as actions. A
figure scrapes it before and after a measured batch run alone and divides the delta by the batch.

The server reports its counters to the endpoint about once a second (not at each increment), so a
reading counts only once it has stayed the same for longer than that (`settled`).
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from collections.abc import Mapping

ACTION_METRIC = "action"

# name{label="value",...} value [timestamp]   (label values may hold escaped quotes)
_SAMPLE = re.compile(r"^(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+\S+)?$")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')

Sample = tuple[str, tuple[tuple[str, str], ...]]


def _unescape(value: str) -> str:
    return value.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")


def parse_prometheus(text: str) -> dict[Sample, float]:
    """Every sample of a Prometheus text exposition: (name, sorted labels) → value. Comments, blank and
    malformed lines are skipped."""
    samples: dict[Sample, float] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        try:
            value = float(match["value"])
        except ValueError:
            continue
        labels = tuple(sorted((k, _unescape(v)) for k, v in _LABEL.findall(match["labels"] or "")))
        samples[(match["name"], labels)] = value
    return samples


def counter_by(
    samples: Mapping[Sample, float], metric: str, label: str, where: Mapping[str, str] | None = None
) -> dict[str, float]:
    """A counter's samples summed by one label's value (`metric` or `metric_total`), filtered by `where`."""
    out: dict[str, float] = {}
    for (name, labels), value in samples.items():
        if name not in (metric, f"{metric}_total"):
            continue
        tags = dict(labels)
        if where and any(tags.get(k) != v for k, v in where.items()):
            continue
        key = tags.get(label, "")
        out[key] = out.get(key, 0.0) + value
    return out


def actions(text: str, namespace: str = "default") -> dict[str, float]:
    """The `action` counter by action_type for one namespace."""
    return counter_by(parse_prometheus(text), ACTION_METRIC, "action_type", {"namespace": namespace})


def delta(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """after - before per key (keys new in `after` count from 0), zero deltas left out."""
    keys = sorted(set(before) | set(after))
    return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in keys if after.get(k, 0.0) != before.get(k, 0.0)}


def per(counts: Mapping[str, float], n: int, digits: int = 2) -> dict[str, float]:
    return {k: round(v / max(n, 1), digits) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


class ActionMeter:
    """Scrapes the server's `action` counter; `start()` then `stop()` gives the actions in between."""

    def __init__(self, url: str, namespace: str = "default"):
        self.url = url
        self.namespace = namespace
        self._before: dict[str, float] = {}

    async def read(self) -> dict[str, float]:
        return actions(await asyncio.to_thread(_get, self.url), self.namespace)

    async def settled(self, quiet: float = 1.5, timeout: float = 15.0) -> dict[str, float]:
        """A reading unchanged for `quiet` seconds (the server's reporting interval is ~1 s)."""
        reading, since = await self.read(), time.monotonic()
        give_up = since + timeout
        while time.monotonic() - since < quiet and time.monotonic() < give_up:
            await asyncio.sleep(0.25)
            now = await self.read()
            if now != reading:
                reading, since = now, time.monotonic()
        return reading

    async def start(self) -> None:
        self._before = await self.settled()

    async def stop(self) -> dict[str, float]:
        return delta(self._before, await self.settled())

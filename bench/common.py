"""Shared pieces: the stack (dev server + embedded PostgreSQL), logging, statistics, tickets, policies."""

from __future__ import annotations

import asyncio
import math
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from temporalio import activity
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateRPCTimeoutOrCancelledError, WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment

from activities.notifications import Notifier
from activities.store import create_pool, embedded_url, migrate
from activities.store.projection import _project
from recovery.converter import data_converter
from recovery.deployments import make_current
from recovery.logs import configure_logging
from recovery.versioning import build_id, deployment_name
from starter.binaries import find_binary
from workflows import search_attributes as sa
from workflows.effects import PLAN_DELIVERIES, SEND_NOTIFICATION, DeliveryPlan, Notification, ProjectionBatch
from workflows.models import TicketEvent
from workflows.policy import Policy
from workflows.policy_files import default_policy_text, parse_policy

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent


# ---- logging: the worker logs like production (structlog JSON), but into a file ------------------


def configure_file_logging(path: Path) -> None:
    """The production worker's JSON logging (at INFO), into `path` instead of the terminal."""
    stream = open(path, "a", buffering=1)
    configure_logging("INFO", stream)


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---- statistics ------------------------------------------------------------------------------


def percentile(values: Iterable[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    data = sorted(values)
    if not data:
        return None
    if len(data) == 1:
        return data[0]
    pos = (len(data) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
        "mean": sum(values) / len(values) if values else None,
    }


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of y over x."""
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in points) / sxx


async def bounded(concurrency: int, items: Iterable[T], run: Callable[[T], Awaitable[Any]]) -> list[Any]:
    """Run `run(item)` for every item with at most `concurrency` in flight; results in item order."""
    items = list(items)
    results: list[Any] = [None] * len(items)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(items)):
        queue.put_nowait(index)

    async def lane() -> None:
        while True:
            try:
                index = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            results[index] = await run(items[index])

    await asyncio.gather(*(lane() for _ in range(max(1, min(concurrency, len(items))))))
    return results


# ---- tickets and policies ------------------------------------------------------------------


def ticket(customer: str, order: str = "ord-1", subject: str = "Wrong size shipped") -> TicketEvent:
    return TicketEvent.model_validate(
        {
            "source": "generic",
            "event_id": f"evt-{customer}-{order}",
            "ticket_id": f"T-{customer}",
            "customer": {"id": customer, "name": "Dana Example", "email": "dana@example.com"},
            "order": {"id": order, "currency": "USD", "total": "88.00", "shipping": "9.00"},
            "subject": subject,
            "description": "Ordered M, got XXL.",
            "occurred_at": "2026-11-20T10:00:00+00:00",
        }
    )


def wall_policy(
    *,
    ack: str = "1h",
    fix: str = "4h",
    compensate: str = "4h",
    follow_up: str = "1s",
    close: str = "4h",
    interval: str = "30m",
    max_silence: str = "30d",
    age_ceiling: str = "60d",
    clock: str = "wall",
    calendar: dict[str, Any] | None = None,
) -> Policy:
    """The packaged default policy with one deadline set for every severity (like the tests' fast policy)."""
    data = parse_policy(default_policy_text(), "default").model_dump(mode="json")
    for severity in data["severities"]:
        data["severities"][severity] = {
            "clock": clock,
            "acknowledge": ack,
            "fix": fix,
            "compensate": compensate,
            "follow_up": follow_up,
            "close": close,
        }
    data["escalation"].update(interval=interval, max_silence=max_silence, age_ceiling=age_ceiling)
    if calendar is not None:
        data["calendar"] = calendar
    return Policy.model_validate(data)


# ---- the escalation-recording notifier --------------------------------------------------------


class RecordingNotifier(Notifier):
    """The real notifier (structlog line, no webhook), also noting when each escalation notification's
    activity started (wall clock), for figure (c)."""

    def __init__(self) -> None:
        super().__init__(None)
        self.escalations: dict[str, float] = {}

    @activity.defn(name=SEND_NOTIFICATION)
    async def send(self, note: Notification) -> str:
        if note.template == "escalation":
            self.escalations.setdefault(note.workflow_id, time.time())
        return await Notifier.send(self, note)

    @activity.defn(name=PLAN_DELIVERIES)
    async def plan(self, note: Notification) -> DeliveryPlan:
        if note.template == "escalation":
            self.escalations.setdefault(note.workflow_id, time.time())
        return await Notifier.plan(self, note)


# ---- the stack ---------------------------------------------------------------------------------


@dataclass
class Stack:
    env: WorkflowEnvironment
    client: Client
    address: str
    database_url: str
    pool: asyncpg.Pool
    tmp: Path
    metrics_url: str = ""
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def close(self) -> None:
        for cleanup in reversed(self.cleanups):
            try:
                await cleanup()
            except Exception as err:
                say(f"cleanup failed: {err!r}")


DEV_SERVER_ARGS = [
    *("--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"),
    # a deployment version takes 100 task queues by default; the figures poll one queue each
    *("--dynamic-config-value", "matching.maxTaskQueuesInDeploymentVersion=10000"),
]


async def start_stack(tmp: Path) -> Stack:
    """ONE Temporal dev server (SQLite file in WAL mode) and ONE embedded PostgreSQL, migrated."""
    started = time.perf_counter()
    metrics_port = free_port()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary("temporal"),
        search_attributes=sa.ALL,
        data_converter=data_converter,
        dev_server_extra_args=[
            *DEV_SERVER_ARGS,
            "--db-filename",
            str(tmp / "temporal.db"),
            # its Prometheus endpoint: figure (h) reads the server's own `action` counter there
            "--metrics-port",
            str(metrics_port),
        ],
    )
    # Versioned workers like production: this build is current for every task queue they poll.
    await make_current(env.client, deployment_name(), build_id())
    address = env.client.service_client.config.target_host
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    say(f"Temporal dev server on {address}, metrics {metrics_url} ({time.perf_counter() - started:.1f}s)")
    started = time.perf_counter()
    url = await asyncio.to_thread(embedded_url, tmp / "pg" / "data")
    pool = await create_pool(url, max_size=10)
    await migrate(pool)
    say(f"embedded PostgreSQL ready ({time.perf_counter() - started:.1f}s)")
    stack = Stack(
        env=env, client=env.client, address=address, database_url=url, pool=pool, tmp=tmp, metrics_url=metrics_url
    )

    async def stop_env() -> None:
        await env.shutdown()

    async def stop_pool() -> None:
        await pool.close()

    stack.cleanups += [stop_env, stop_pool]
    return stack


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra)
    return env


def rss_kib(pid: int) -> int:
    """VmRSS of a process in KiB, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def run_update(client: Client, workflow_id: str, update: str, inp: Any) -> dict[str, Any]:
    """The same calls as `starter.cases.run_step` (for the floor and the reference): start the update,
    wait for ACCEPTED, then its result."""
    handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(workflow_id)
    accepted = await handle.start_update(update, inp, wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=dict)
    while True:
        try:
            result: dict[str, Any] = await accepted.result()
            return result
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            continue


async def project_in_one_transaction(pool: asyncpg.Pool, batches: list[ProjectionBatch]) -> None:
    """Seed cases through the projection's own code path (`_project`), many in one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        for batch in batches:
            if not await _project(conn, batch, None, careful=False):
                raise RuntimeError(f"{batch.workflow_id}: the projection wrote nothing")

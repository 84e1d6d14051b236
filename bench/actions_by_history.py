"""Billable actions of one standard lifecycle (bench/lifecycle.py), by type, two ways:

    python -m bench.actions_by_history [--runs N] [--json] [--timeline]

1. From the history: the events Temporal Cloud bills (a start, each accepted update, each scheduled
   activity, timer, upsert, properties change, continue-as-new; markers are reported by name — a
   local activity's marker, a patch marker — since how they are billed is the question).
2. From the dev server's own `action` counter (Prometheus, label `action_type`), scraped before and
   after the lifecycle (nothing else runs on the server meanwhile).

One dev server (with --metrics-port) and one embedded PostgreSQL, started and stopped here.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.testing import WorkflowEnvironment

from activities.notifications import Notifier
from activities.store import create_pool, embedded_url, migrate, stop_embedded
from bench.common import ticket
from bench.lifecycle import lifecycle_policy, real_lifecycle
from recovery.converter import data_converter
from recovery.deployments import make_current
from recovery.versioning import build_id, deployment_name
from starter.binaries import find_binary
from worker import build_worker
from workflows import search_attributes as sa
from workflows.models import workflow_id_for

BILLED = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: "start",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "update",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "signal",
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activity",
    EventType.EVENT_TYPE_TIMER_STARTED: "timer",
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: "upsert",
    EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED: "properties",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: "continue_as_new",
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: "child",
}


def timeline(events: list[HistoryEvent]) -> list[str]:
    """One line per event: its id, type and what names it (activity, timer summary, marker, update)."""
    lines = []
    for e in events:
        name = EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
        detail = ""
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            detail = e.activity_task_scheduled_event_attributes.activity_type.name
        elif e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            detail = e.marker_recorded_event_attributes.marker_name
        elif e.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            detail = str(e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta())
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            detail = e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        elif e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
            detail = ",".join(sorted(fields))
        lines.append(f"{e.event_id:3d} {name} {detail}".rstrip())
    return lines


def count_history(events: list[HistoryEvent]) -> dict[str, Any]:
    """Billable commands by type; markers by name, and local-activity markers also by workflow task."""
    by_type: Counter[str] = Counter()
    markers: Counter[str] = Counter()
    activities: Counter[str] = Counter()
    la_tasks: set[int] = set()
    retries = 0
    for e in events:
        if e.event_type in BILLED:
            by_type[BILLED[e.event_type]] += 1
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            activities[e.activity_task_scheduled_event_attributes.activity_type.name] += 1
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            retries += max(0, e.activity_task_started_event_attributes.attempt - 1)
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            name = e.marker_recorded_event_attributes.marker_name
            markers[name] += 1
            if name == "core_local_activity":
                la_tasks.add(e.marker_recorded_event_attributes.workflow_task_completed_event_id)
    by_type["local_activity_tasks"] = len(la_tasks)  # Cloud: a task's local activities bill as one
    total = sum(v for k, v in by_type.items())
    return {
        "total": total + retries,
        "by_type": dict(sorted(by_type.items())),
        "activity_retries": retries,
        "activities": dict(sorted(activities.items())),
        "markers": dict(sorted(markers.items())),
        "events": len(events),
        "workflow_tasks": sum(1 for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
    }


_ACTION = re.compile(r"^action\{([^}]*)\}\s+([0-9.e+]+)$")


async def scrape(http: httpx.AsyncClient, url: str, namespace: str = "default") -> Counter[str]:
    """The dev server's `action` counter by action_type, in the namespace the lifecycle runs in."""
    text = (await http.get(url)).text
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        m = _ACTION.match(line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            if labels.get("namespace", namespace) != namespace:
                continue
            counts[labels.get("action_type", "?")] += int(float(m.group(2)))
    return counts


async def settled(http: httpx.AsyncClient, url: str, deadline: float = 20.0, quiet: float = 3.0) -> Counter[str]:
    """Scrape until the counter has not moved for `quiet` seconds (the server reports metrics in
    intervals, not at once)."""
    last = await scrape(http, url)
    since = time.monotonic()
    end = since + deadline
    while time.monotonic() < end:
        await asyncio.sleep(0.5)
        now = await scrape(http, url)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return last


async def measure(runs: int = 1) -> list[dict[str, Any]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    metrics = f"http://127.0.0.1:{port}/metrics"
    tmp = Path(tempfile.mkdtemp(prefix="actions-"))
    pool = await create_pool(await asyncio.to_thread(embedded_url, tmp / "pg"), max_size=4)
    await migrate(pool)
    queue = f"actions-{uuid.uuid4().hex[:6]}"
    results: list[dict[str, Any]] = []
    try:
        async with (
            await WorkflowEnvironment.start_local(
                dev_server_existing_path=find_binary("temporal"),
                search_attributes=sa.ALL,
                data_converter=data_converter,
                dev_server_extra_args=["--metrics-port", str(port)],
            ) as env,
            httpx.AsyncClient() as http,
        ):
            await make_current(env.client, deployment_name(), build_id())
            async with build_worker(env.client, pool=pool, queue=queue, notifier=Notifier()):
                for _ in range(runs):  # one at a time: the counter's difference is this lifecycle's
                    before = await settled(http, metrics)
                    key = f"act-{uuid.uuid4().hex[:6]}"
                    await real_lifecycle(env.client, queue, key, lifecycle_policy(), pool)
                    after = await settled(http, metrics)
                    handle = env.client.get_workflow_handle(workflow_id_for(ticket(key).case_key))
                    history = await handle.fetch_history()
                    server = {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}
                    results.append(
                        {
                            "history": count_history(list(history.events)),
                            "timeline": timeline(list(history.events)),
                            "server_action_counter": {
                                "total": sum(server.values()),
                                "by_action_type": dict(sorted(server.items())),
                            },
                        }
                    )
    finally:
        await pool.close()
    return results


def main() -> None:
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 1
    results = asyncio.run(measure(runs))
    stop_embedded()
    if "--json" in sys.argv:
        print(json.dumps(results))
    else:
        for r in results:
            h, s = r["history"], r["server_action_counter"]
            print(f"history {h['total']}: {h['by_type']} activities {h['activities']} markers {h['markers']}")
            print(f"  server {s['total']}: {s['by_action_type']}")
            if "--timeline" in sys.argv:
                print("\n".join(r["timeline"]))
    sys.stdout.flush()
    os._exit(0)  # the Temporal runtime's threads can abort interpreter finalization


if __name__ == "__main__":
    main()

"""The Temporal server is killed while escalation deadlines pass and restarted on the same database:
each escalation fires exactly once."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import asyncpg
from temporalio.client import Client

from activities.notifications import Notifier
from recovery.converter import data_converter
from recovery.deployments import make_current
from recovery.versioning import build_id, deployment_name
from starter.cases import open_case, timeline
from starter.dev import temporal_command
from tests.helpers import WebhookReceiver, eventually, fast_policy, figure, free_port, ticket
from worker import build_worker

CASES = 10


def start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*temporal_command(home, port, free_port()), "--headless"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


async def connected(port: int) -> Client:
    async def attempt() -> Client | None:
        try:
            return await Client.connect(f"127.0.0.1:{port}", data_converter=data_converter)
        except Exception:
            return None

    return await eventually(attempt, timeout=60, interval=0.25)


async def test_escalations_fire_once_across_a_server_kill(
    tmp_path: Path, db: asyncpg.Pool, receiver: WebhookReceiver
) -> None:
    port = free_port()
    server = start_server(tmp_path, port)
    try:
        client = await connected(port)
        await make_current(client, deployment_name(), build_id())
        queue = "restart"
        policy = fast_policy(ack="6s", interval="3s")
        async with build_worker(client, pool=db, queue=queue, notifier=Notifier(receiver.url)):
            cases = [
                (await open_case(client, ticket(f"r{n}", customer=f"cust-restart-{n}"), policy, queue)).case_id
                for n in range(CASES)
            ]
            # Down before the first deadline; the deadlines (6 s, 9 s, 12 s) all pass while it is down.
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=10)
            down_at = time.monotonic()
            await asyncio.sleep(14)  # the outage itself: nothing to poll while the server is gone
            server = start_server(tmp_path, port)
            await connected(port)

            def escalation_keys() -> set[str]:
                return {item["idempotency_key"] for item in receiver.received if item["template"] == "escalation"}

            async def all_escalated() -> dict:
                # The level-3 notice is delivered after its event: wait for both before the worker stops.
                if len(escalation_keys()) < 3 * CASES:
                    return {}
                found = {}
                for case in cases:
                    events = await timeline(client, case)
                    levels = [e.data["level"] for e in events if e.type == "escalated"]
                    if 3 not in levels:
                        return {}
                    found[case] = (levels, events)
                return found

            found = await eventually(all_escalated, timeout=90, interval=1)
            recovered_after = time.monotonic() - down_at
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)

    for case, (levels, events) in found.items():
        assert levels == [1, 2, 3], (case, levels)
        warnings = [e.data["fraction"] for e in events if e.type == "warning"]
        assert warnings == [0.5, 0.75] or warnings == [], (case, warnings)
    keys = escalation_keys()
    assert len(keys) == 3 * CASES, sorted(keys)
    figure(
        f"\nserver restart: {CASES} cases, server down {14} s across every deadline, "
        f"{len(keys)} escalations fired once each (recovered within {recovered_after:.0f} s), duplicates = 0"
    )

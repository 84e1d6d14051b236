"""The worker process is SIGKILLed mid-case, twice, and restarted: the case resumes and no step or
notification is lost or issued twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Replayer

from recovery.converter import data_converter
from starter.cases import open_case, run_step, timeline
from tests.helpers import AGENT, WebhookReceiver, eventually, fast_policy, ticket
from workflows.complaint import ComplaintWorkflow
from workflows.models import AcknowledgeInput, CloseInput, CompensateInput, FixInput, FollowUpInput

ROOT = Path(__file__).resolve().parents[1]


def start_worker(
    client: Client, queue: str, receiver: WebhookReceiver, database: str, stderr: int = subprocess.DEVNULL
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": client.namespace,
        "RECOVERY_TASK_QUEUE": queue,
        "RECOVERY_NOTIFY_WEBHOOK": receiver.url,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "worker"], cwd=ROOT, env=env, text=True, stdout=subprocess.DEVNULL, stderr=stderr
    )


def kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


async def test_sigkilled_worker_resumes_without_losing_or_doubling(
    client: Client, task_queue: str, receiver: WebhookReceiver, db_url: str
) -> None:
    worker = start_worker(client, task_queue, receiver, db_url)
    try:
        # The follow-up question goes out 20 s after compensation and its answer is due 20 s later: long
        # enough for the worker started after kill 2 to be polling, so no answer deadline passes.
        policy = fast_policy(follow_up="20s")
        opened = await asyncio.wait_for(
            open_case(client, ticket("crash", customer="cust-crash"), policy, task_queue), 30
        )
        case = opened.case_id
        await run_step(client, case, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))

        # Kill 1: while the fix notice is in flight (posted, not yet answered).
        receiver.hold("fix_notice")
        fixing = asyncio.create_task(
            run_step(client, case, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Sent."))
        )
        await eventually(lambda: asyncio.to_thread(receiver.held.is_set), timeout=30)
        kill(worker)
        receiver.release.set()
        worker = start_worker(client, task_queue, receiver, db_url)
        fixed = await asyncio.wait_for(fixing, 90)
        assert fixed.step == "compensate"

        await run_step(
            client,
            case,
            ComplaintWorkflow.compensate,
            CompensateInput(actor=AGENT, kind="credit", amount={"amount": "30.00", "currency": "USD"}),
        )

        # Kill 2: idle between steps; the next worker rebuilds the case from history.
        kill(worker)
        worker = start_worker(client, task_queue, receiver, db_url)

        # The agent learns the customer was asked from the CSAT request going out.
        async def asked() -> bool:
            return any(item["template"] == "follow_up_request" for item in receiver.for_case(case))

        await eventually(asked, timeout=60)
        await run_step(
            client, case, ComplaintWorkflow.complete_follow_up, FollowUpInput(actor=AGENT, outcome="satisfied")
        )
        await run_step(client, case, ComplaintWorkflow.close, CloseInput(actor=AGENT, root_cause="other", note="Done."))
        events = await timeline(client, case)
        history = await client.get_workflow_handle(opened.workflow_id).fetch_history()
    finally:
        kill(worker)

    assert [e.type for e in events] == [
        "opened",
        "acknowledged",
        "fix_recorded",
        "compensation_proposed",
        "compensation_issued",
        "follow_up_asked",
        "follow_up_done",
        "closed",
    ]
    delivered = receiver.for_case(case)
    by_key = Counter(item["idempotency_key"] for item in delivered)
    unique = {item["idempotency_key"]: item["template"] for item in delivered}
    # Every notification the case owed arrived, each under one key: nothing lost, nothing issued twice.
    assert sorted(unique.values()) == sorted(
        ["new_case", "acknowledgement", "fix_notice", "compensation_notice", "follow_up_request"]
    )
    assert all(item["_key_header"] == item["idempotency_key"] for item in delivered)
    # The one in flight at the kill was retried under the same key (at-least-once; the key dedupes it).
    fix_key = next(k for k, t in unique.items() if t == "fix_notice")
    assert by_key[fix_key] == 2
    assert all(count == 1 for key, count in by_key.items() if key != fix_key)
    # And the history the three workers wrote together replays cleanly.
    replay = await Replayer(workflows=[ComplaintWorkflow], data_converter=data_converter).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert replay.replay_failure is None


def test_sigterm_stops_the_worker_gracefully(
    client: Client, task_queue: str, receiver: WebhookReceiver, db_url: str
) -> None:
    worker = start_worker(client, task_queue, receiver, db_url, stderr=subprocess.PIPE)
    assert worker.stderr is not None
    logged = []
    for line in worker.stderr:  # ends when the process closes stderr; the timeout below bounds it
        logged.append(json.loads(line)["event"] if line.startswith("{") else line)
        if "worker started" in logged:
            break
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    logged += [json.loads(line)["event"] for line in worker.stderr.read().splitlines() if line.startswith("{")]
    ours = [line for line in logged if line.startswith("worker ")]
    assert ours[-2:] == ["worker stopping: finishing in-flight tasks", "worker stopped"]

"""Worker SIGKILLs at random moments while many cases run their whole lifecycle: every case
completes, and no notification or compensation is issued twice."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import asyncpg
from temporalio.client import Client

from starter.cases import open_case, run_step, status, timeline
from tests.helpers import AGENT, WebhookReceiver, eventually, fast_policy, figure, ticket
from workflows.complaint import ComplaintWorkflow
from workflows.models import AcknowledgeInput, CloseInput, CompensateInput, FixInput, FollowUpInput

ROOT = Path(__file__).resolve().parents[2]
CASES, KILLS, SEED = 12, 3, 20261122
EXPECTED_EVENTS = [
    "opened",
    "acknowledged",
    "fix_recorded",
    "compensation_proposed",
    "compensation_issued",
    "follow_up_asked",
    "follow_up_done",
    "closed",
]
EXPECTED_NOTES = {"new_case", "acknowledgement", "fix_notice", "compensation_notice", "follow_up_request"}


class Workers:
    def __init__(self, client: Client, queue: str, receiver: WebhookReceiver, db_url: str):
        self.env = {
            **os.environ,
            "TEMPORAL_ADDRESS": client.service_client.config.target_host,
            "RECOVERY_TASK_QUEUE": queue,
            "RECOVERY_NOTIFY_WEBHOOK": receiver.url,
            "DATABASE_URL": db_url,
        }
        self.process = self._start()
        self.kills = 0

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "worker"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill_and_restart(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.kills += 1
        self.process = self._start()

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


async def lifecycle(client: Client, queue: str, receiver: WebhookReceiver, n: int) -> str:
    # The follow-up question goes out 20 s after compensation, its answer due 20 s later: a worker
    # restarted by the chaos is polling again well within that, so no answer deadline passes.
    policy = fast_policy(follow_up="20s")
    opened = await open_case(client, ticket(f"chaos{n}", customer=f"cust-chaos-{n}"), policy, queue)
    case = opened.case_id
    await run_step(client, case, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
    await run_step(client, case, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Fixed."))
    await run_step(
        client,
        case,
        ComplaintWorkflow.compensate,
        CompensateInput(
            actor=AGENT, kind="refund" if n % 2 else "coupon", amount={"amount": f"{10 + n}.00", "currency": "USD"}
        ),
    )

    async def asked() -> bool:  # the case shows the customer was asked (the request may still be on its way)
        return (await status(client, case)).deadlines.follow_up_asked

    await eventually(asked, timeout=120, interval=0.5)
    await run_step(client, case, ComplaintWorkflow.complete_follow_up, FollowUpInput(actor=AGENT, outcome="satisfied"))
    await run_step(client, case, ComplaintWorkflow.close, CloseInput(actor=AGENT, root_cause="other", note="ok"))
    await client.get_workflow_handle(opened.workflow_id).result()  # ends once every delivery is done
    return case


async def test_random_worker_kills_lose_and_double_nothing(
    client: Client, task_queue: str, receiver: WebhookReceiver, db: asyncpg.Pool, db_url: str
) -> None:
    rng = random.Random(SEED)
    workers = Workers(client, task_queue, receiver, db_url)
    try:
        runs = asyncio.gather(*(lifecycle(client, task_queue, receiver, n) for n in range(CASES)))

        async def chaos() -> None:
            for _ in range(KILLS):
                await asyncio.sleep(rng.uniform(0.5, 4.0))  # a random moment of the lifecycles
                workers.kill_and_restart()

        cases, _ = await asyncio.wait_for(asyncio.gather(runs, chaos()), timeout=300)
        timelines = {case: await timeline(client, case) for case in cases}
    finally:
        workers.stop()

    for case, events in timelines.items():
        assert [e.type for e in events] == EXPECTED_EVENTS, case
        delivered = receiver.for_case(case)
        assert {i["template"] for i in delivered} == EXPECTED_NOTES, case
        # One key per notification: a resend after a kill carries the same key.
        per_template = Counter(t for t in {(i["idempotency_key"], i["template"]) for i in delivered})
        assert all(count == 1 for count in Counter(t for _, t in per_template).values()), case
    ledger = await db.fetch(
        "SELECT case_id, count(*) AS n, bool_and(status = 'succeeded') AS ok "
        "FROM ledger WHERE customer_id LIKE 'cust-chaos-%' GROUP BY case_id"
    )
    assert len(ledger) == CASES and all(r["n"] == 1 and r["ok"] for r in ledger)
    resent = sum(n - 1 for n in Counter(i["idempotency_key"] for i in receiver.received).values())
    figure(
        f"\nworker chaos (seed {SEED}): {CASES} cases, {workers.kills} SIGKILLs, all closed; "
        f"{len(ledger)} compensations issued once; notifications lost = 0, issued twice = 0 "
        f"({resent} at-least-once resends under the same key)"
    )

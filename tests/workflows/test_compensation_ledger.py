"""Money moves exactly once: the ledger and the payment provider with real workers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import asyncpg
from temporalio.client import Client

from activities.compensation import Compensator
from activities.notifications import Notifier
from starter.cases import open_case, run_step, timeline
from tests.fakes.payments import FakePayments
from tests.helpers import AGENT, eventually, fast_policy, ticket
from worker import build_worker
from workflows.complaint import ComplaintWorkflow
from workflows.models import AcknowledgeInput, CompensateInput, FixInput

ROOT = Path(__file__).resolve().parents[2]


async def at_compensate(client: Client, queue: str, customer: str, order: str) -> str:
    opened = await open_case(
        client,
        ticket(f"{customer}-{order}", customer=customer, order=order, payment="pi_" + order.replace("-", "")),
        fast_policy(),
        queue,
    )
    await run_step(client, opened.case_id, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
    await run_step(client, opened.case_id, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Done."))
    return opened.case_id


async def test_a_compensation_over_the_customers_cap_across_cases_is_stopped_and_escalated(
    client: Client, task_queue: str, db: asyncpg.Pool, receiver
) -> None:
    compensator = Compensator(db, customer_cap={"USD": Decimal("60.00")})
    async with build_worker(
        client, pool=db, queue=task_queue, notifier=Notifier(receiver.url), compensator=compensator
    ):
        first = await at_compensate(client, task_queue, "cust-cap", "ord-a")
        second = await at_compensate(client, task_queue, "cust-cap", "ord-b")
        paid = await run_step(
            client,
            first,
            ComplaintWorkflow.compensate,
            CompensateInput(actor=AGENT, kind="coupon", amount={"amount": "40.00", "currency": "USD"}),
        )
        assert paid.step == "follow_up"
        # Within the agent's authority and within this case, but the customer already has 40 of 60.
        stopped = await run_step(
            client,
            second,
            ComplaintWorkflow.compensate,
            CompensateInput(actor=AGENT, kind="credit", amount={"amount": "45.00", "currency": "USD"}),
        )
        events = await timeline(client, second)
        rows = await db.fetch("SELECT status, amount FROM ledger WHERE customer_id = 'cust-cap' ORDER BY created_at")

    assert stopped.step == "compensate" and stopped.compensation == []
    assert [e.type for e in events][-3:] == ["compensation_proposed", "compensation_failed", "escalated"]
    assert "above the cap of 60.00 USD" in events[-2].data["reason"]
    assert events[-1].data["reason"] == "compensation failed" and stopped.escalation_level == 1
    assert [(r["status"], r["amount"]) for r in rows] == [
        ("succeeded", Decimal("40.000")),
        ("refused", Decimal("45.000")),
    ]


def start_worker(client: Client, queue: str, db_url: str, payments: FakePayments) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "RECOVERY_TASK_QUEUE": queue,
        "DATABASE_URL": db_url,
        "RECOVERY_PAYMENTS_URL": payments.url,
        "RECOVERY_PAYMENTS_KEY": payments.api_key,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "worker"],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_worker_killed_after_the_provider_refunded_refunds_exactly_once(
    client: Client, task_queue: str, db: asyncpg.Pool, db_url: str
) -> None:
    with FakePayments() as payments:
        worker = start_worker(client, task_queue, db_url, payments)
        try:
            case = await asyncio.wait_for(at_compensate(client, task_queue, "cust-kill", "ord-k"), 60)
            payments.hold_next = True  # the provider refunds, then the answer never reaches this worker
            refunding = asyncio.create_task(
                run_step(
                    client,
                    case,
                    ComplaintWorkflow.compensate,
                    CompensateInput(actor=AGENT, kind="refund", amount={"amount": "45.00", "currency": "USD"}),
                )
            )
            await eventually(lambda: asyncio.to_thread(payments.held.is_set), timeout=30)
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
            payments.release.set()
            worker = start_worker(client, task_queue, db_url, payments)
            done = await asyncio.wait_for(refunding, 120)
        finally:
            worker.kill()
            worker.wait(timeout=10)
        key = f"complaint-{case}:{done.compensation[0].seq}"
        assert payments.refund_count == 1
        # The retry looked the refund up by its idempotency key first and found it: no second payment
        # request (before: it asked again with the same key, which Stripe only replays within a day).
        assert payments.calls_by_key[key] == 1 and any(r[0] == "GET /v1/refunds" for r in payments.requests)
        assert len(payments.refunds_for(key)) == 1
    rows = await db.fetch("SELECT status, reference FROM ledger WHERE idempotency_key = $1", key)
    assert [(r["status"], r["reference"]) for r in rows] == [("succeeded", done.compensation[0].reference)]
    assert done.step == "follow_up" and done.compensation[0].reference.startswith("re_")

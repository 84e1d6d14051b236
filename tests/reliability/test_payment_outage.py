"""A payment provider outage of minutes, on the real dev server and PostgreSQL with the loopback
Stripe fake: the provider made the refund but the answer was lost, then every request failed until
the compensation activity's retries gave up. The case shows "outcome unknown, checking" and refuses
a new proposal (which used to get a new idempotency key and pay the customer twice); once the
provider is back — even after it forgot the idempotency key — the payment is found by its metadata
and settled. Exactly one refund."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from temporalio.client import Client

from activities.compensation import Compensator
from activities.notifications import Notifier
from starter.cases import CaseError, open_case, run_step, status, timeline
from tests.fakes.payments import FakePayments
from tests.helpers import AGENT, eventually, fast_policy, figure, ticket
from worker import build_worker
from workflows.models import AcknowledgeInput, CompensateInput, FixInput

REFUND = CompensateInput(actor=AGENT, kind="refund", amount={"amount": "45.00", "currency": "USD"})


async def test_a_lost_answer_then_an_outage_pays_exactly_once(
    client: Client, task_queue: str, db: asyncpg.Pool, receiver
) -> None:
    with FakePayments() as payments:
        compensator = Compensator(db, payments.url, payments.api_key, timeout=5.0)
        async with build_worker(
            client, pool=db, queue=task_queue, notifier=Notifier(receiver.url), compensator=compensator
        ):
            opened = await open_case(
                client, ticket("outage", customer="cust-outage", payment="pi_outage1"), fast_policy(), task_queue
            )
            case = opened.case_id
            await run_step(client, case, "acknowledge", AcknowledgeInput(actor=AGENT))
            await run_step(client, case, "record_fix", FixInput(actor=AGENT, description="Done."))

            payments.drop_next = True  # the refund is made; its answer never arrives…
            payments.outage_after_drop = 10_000  # …and from then on the provider answers 500
            unknown = await asyncio.wait_for(run_step(client, case, "compensate", REFUND), 120)
            assert payments.refund_count == 1

            pending = unknown.pending_compensation
            assert unknown.step == "compensate" and pending is not None and pending.status == "outcome_unknown"
            row = await db.fetchrow("SELECT status FROM ledger WHERE case_id = $1", case)
            assert row["status"] == "pending"
            with pytest.raises(CaseError) as refused:  # a new proposal would be a new key: refused
                await run_step(client, case, "compensate", REFUND)
            assert refused.value.code == "conflict" and "unknown outcome" in refused.value.message

            payments.forget_keys()  # a day later the same key would be a new payment…
            payments.fail_next = 0  # …but the provider is back and the engine looks the refund up first

            async def settled() -> bool:
                return (await status(client, case)).step == "follow_up"

            await eventually(settled, timeout=150, interval=1.0)
            events = await timeline(client, case)
            final = await status(client, case)

        rows = await db.fetch("SELECT status, reference FROM ledger WHERE case_id = $1", case)
        key = f"complaint-{case}:{final.compensation[0].seq}"
        lookups = [r for r in payments.requests if r[0].startswith("GET ")]
        figure(
            f"\npayment outage: attempts={payments.calls_by_key[key]} faults={payments.calls - payments.refund_count}"
            f" lookups={len(lookups)} refunds={payments.refund_count} lost=0 doubled={payments.refund_count - 1}"
        )
        assert payments.refund_count == 1 and len(payments.refunds_for(key)) == 1
        assert [(r["status"], r["reference"]) for r in rows] == [("succeeded", payments.refunds[0]["id"])]
        types = [e.type for e in events]
        assert types.count("compensation_outcome_unknown") == 1 and types.count("compensation_issued") == 1
        assert "compensation_failed" not in types
        assert final.compensation[0].reference == payments.refunds[0]["id"] and lookups

"""Email across an SMTP outage and worker SIGKILLs: every customer message the server accepted
arrives exactly once (counted at the real SMTP server), none is lost."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import asyncpg
from temporalio.client import Client

from starter.cases import open_case, run_step, timeline
from tests.fakes.smtp import SmtpServer
from tests.helpers import AGENT, eventually, fast_policy, ticket
from tests.test_worker_crash import ROOT, kill
from workflows.complaint import ComplaintWorkflow
from workflows.models import AcknowledgeInput, CompensateInput, FixInput


def start_worker(client: Client, queue: str, smtp: SmtpServer, database: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": client.namespace,
        "RECOVERY_TASK_QUEUE": queue,
        "RECOVERY_SMTP_URL": smtp.url,
        "RECOVERY_MAIL_FROM": "care@shop.example",
    }
    env.pop("RECOVERY_NOTIFY_WEBHOOK", None)
    return subprocess.Popen(
        [sys.executable, "-m", "worker"],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_smtp_outage_and_sigkills_neither_lose_nor_double_a_message(
    client: Client, task_queue: str, db_url: str
) -> None:
    smtp = SmtpServer()
    smtp.stop()  # the SMTP server is down when the case opens
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    worker = start_worker(client, task_queue, smtp, db_url)
    try:
        opened = await asyncio.wait_for(
            open_case(client, ticket("mail-crash", customer="cust-mail"), fast_policy(), task_queue), 30
        )
        case = opened.case_id
        acknowledging = asyncio.create_task(
            run_step(client, case, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT, message="So sorry."))
        )

        async def attempted() -> bool:  # the apology is being retried against the dead server
            history = await client.get_workflow_handle(opened.workflow_id).describe()
            return any(p.attempt >= 2 for p in history.raw_description.pending_activities)

        await eventually(attempted, timeout=60)
        # Kill 1: mid-outage, with the apology not yet sent.
        kill(worker)
        smtp.start()
        worker = start_worker(client, task_queue, smtp, db_url)
        await asyncio.wait_for(acknowledging, 120)  # the step answers; its apology goes out beside it
        await eventually(lambda: asyncio.to_thread(lambda: len(smtp.to("dana@example.com")) == 1), timeout=60)

        # Kill 2: right after the server accepted the fix notice and the worker logged the delivery,
        # before (or while) the activity reports completion: the retry finds the log and sends nothing.
        fixing = asyncio.create_task(
            run_step(client, case, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Sent."))
        )

        async def fix_logged() -> bool:
            return (
                await pool.fetchval(
                    "SELECT count(*) FROM deliveries WHERE workflow_id = $1 AND channel = 'email'", opened.workflow_id
                )
                == 2
            )

        await eventually(fix_logged, timeout=60, interval=0.01)
        kill(worker)
        worker = start_worker(client, task_queue, smtp, db_url)
        await asyncio.wait_for(fixing, 120)
        await run_step(
            client,
            case,
            ComplaintWorkflow.compensate,
            CompensateInput(actor=AGENT, kind="credit", amount={"amount": "30.00", "currency": "USD"}),
        )
        await eventually(lambda: asyncio.to_thread(lambda: len(smtp.to("dana@example.com")) == 4), timeout=60)
        events = await timeline(client, case)
    finally:
        kill(worker)
        await pool.close()
        smtp.close()

    mails = smtp.to("dana@example.com")
    assert [m["Subject"].split(" [")[0] for m in mails] == [
        "We're sorry, Dana Example",
        "We've fixed it",
        "Making it right",
        "Did we make it right?",
    ]
    assert all(count == 1 for count in smtp.ids().values()) and len(smtp.ids()) == 4
    assert "notification_failed" not in [e.type for e in events]

"""Deliveries run beside the case: with SMTP down, the agent's acknowledge answers at once, the fix
step's ladder climbs on time while the apology is retried, and the apology arrives exactly once when
SMTP is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta

import asyncpg
import pytest
from temporalio.client import Client

from activities.channels.email import SmtpConfig
from activities.notifications import Notifier
from starter.cases import open_case, run_step, timeline
from tests.fakes.smtp import SmtpServer
from tests.helpers import AGENT, WebhookReceiver, eventually, fast_policy, ticket
from worker import build_worker
from workflows.complaint import ComplaintWorkflow
from workflows.models import AcknowledgeInput
from workflows.policy import NotificationPolicy

STEP_ANSWERS_WITHIN = 5.0
ON_TIME = timedelta(seconds=2)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.close()


async def test_with_smtp_down_a_step_answers_at_once_and_the_ladder_climbs_on_time(
    client: Client, task_queue: str, db: asyncpg.Pool, smtp: SmtpServer, receiver: WebhookReceiver
) -> None:
    smtp.stop()  # down before the apology is sent
    policy = fast_policy(fix="6s", interval="3s")
    policy = policy.model_copy(
        update={"notifications": NotificationPolicy(channel="email", sender="Shop Care <care@shop.example>")}
    )
    notifier = Notifier(receiver.url, smtp=SmtpConfig.from_url(smtp.url, "care@shop.example"), pool=db)
    async with build_worker(client, pool=db, queue=task_queue, notifier=notifier):
        opened = await open_case(client, ticket("beside", customer="cust-beside"), policy, task_queue)
        began = time.monotonic()
        acked = await run_step(client, opened.case_id, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
        answered_in = time.monotonic() - began
        assert acked.step == "fix" and answered_in < STEP_ANSWERS_WITHIN, answered_in

        async def climbed() -> list:
            events = await timeline(client, opened.case_id)
            levels = [e for e in events if e.type == "escalated"]
            return events if len(levels) >= 3 else []

        events = await eventually(climbed, timeout=60, interval=0.5)
        assert smtp.to("dana@example.com") == []  # the apology is still being retried
        acknowledged = next(e for e in events if e.type == "acknowledged")
        due = acknowledged.at + timedelta(seconds=6)
        escalated = [e for e in events if e.type == "escalated"][:3]
        assert [e.data["level"] for e in escalated] == [1, 2, 3]
        for n, event in enumerate(escalated):  # at the deadline, then every 3 s: not held by the apology
            assert abs(event.at - (due + timedelta(seconds=3 * n))) <= ON_TIME, (n, event.at, due)
        assert [e.data.get("fraction") for e in events if e.type == "warning"] == [0.5, 0.75]

        smtp.start()

        async def apologised() -> int:
            return len(await asyncio.to_thread(smtp.to, "dana@example.com"))

        await eventually(apologised, timeout=90, interval=0.5)
        await eventually(
            lambda: _told(client, opened.case_id, "acknowledgement"), timeout=30, interval=0.5
        )  # the delivery is recorded in the timeline once it is done
    mails = smtp.to("dana@example.com")
    assert len(mails) == 1 and len(smtp.ids()) == 1
    escalations = [i for i in receiver.for_case(opened.case_id) if i["template"] == "escalation"]
    assert len({i["idempotency_key"] for i in escalations}) == len(escalations) >= 3


async def _told(client: Client, case_id: str, template: str) -> bool:
    return any(e.type == "notified" and e.data.get("template") == template for e in await timeline(client, case_id))


async def test_a_mail_server_refusing_for_good_fails_the_apology_at_once_and_the_owner_hears(
    client: Client, task_queue: str, db: asyncpg.Pool, smtp: SmtpServer, receiver: WebhookReceiver
) -> None:
    smtp.reject_with = "550 5.1.1 mailbox unavailable"  # permanent: retrying would be refused again
    policy = fast_policy(fix="6s", interval="3s")
    policy = policy.model_copy(
        update={"notifications": NotificationPolicy(channel="email", sender="Shop Care <care@shop.example>")}
    )
    notifier = Notifier(receiver.url, smtp=SmtpConfig.from_url(smtp.url, "care@shop.example"), pool=db)
    async with build_worker(client, pool=db, queue=task_queue, notifier=notifier):
        opened = await open_case(client, ticket("refused", customer="cust-refused"), policy, task_queue)
        await run_step(client, opened.case_id, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))

        async def owner_told() -> list:
            notes = [i for i in receiver.for_case(opened.case_id) if i["template"] == "customer_not_reached"]
            return notes

        (note,) = await eventually(owner_told, timeout=30, interval=0.5)
        assert "acknowledgement" in note["text"] and "550" in note["text"]
        events = await timeline(client, opened.case_id)
        failed = [e for e in events if e.type == "notification_failed" and e.data["template"] == "acknowledgement"]
        acknowledged = next(e for e in events if e.type == "acknowledged")
        assert len(failed) == 1 and failed[0].at - acknowledged.at < timedelta(seconds=10)  # at once, not retried

        async def climbed() -> list:
            levels = [e for e in await timeline(client, opened.case_id) if e.type == "escalated"]
            return levels if len(levels) >= 3 else []

        escalated = (await eventually(climbed, timeout=60, interval=0.5))[:3]
        due = acknowledged.at + timedelta(seconds=6)
        for n, event in enumerate(escalated):
            assert abs(event.at - (due + timedelta(seconds=3 * n))) <= ON_TIME, (n, event.at, due)
    assert smtp.to("dana@example.com") == []


async def test_an_older_record_with_a_line_break_in_the_name_acknowledges_at_once_and_mails_one_line(
    client: Client, task_queue: str, db: asyncpg.Pool, smtp: SmtpServer, receiver: WebhookReceiver
) -> None:
    # Intake refuses such a name now (422); a record stored before that still holds one.
    base = ticket("crlf-name", customer="cust-crlf")
    stored = base.model_copy(update={"customer": base.customer.model_copy(update={"name": "Dana\r\nBcc: evil@x.com"})})
    policy = fast_policy().model_copy(
        update={"notifications": NotificationPolicy(channel="email", sender="Shop Care <care@shop.example>")}
    )
    notifier = Notifier(receiver.url, smtp=SmtpConfig.from_url(smtp.url, "care@shop.example"), pool=db)
    async with build_worker(client, pool=db, queue=task_queue, notifier=notifier):
        opened = await open_case(client, stored, policy, task_queue)
        began = time.monotonic()
        acked = await run_step(client, opened.case_id, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
        assert acked.step == "fix" and time.monotonic() - began < STEP_ANSWERS_WITHIN

        async def mailed() -> list:
            return await asyncio.to_thread(smtp.to, "dana@example.com")

        (mail,) = await eventually(mailed, timeout=30)
        await eventually(lambda: _told(client, opened.case_id, "acknowledgement"), timeout=30, interval=0.5)
    assert "\r" not in str(mail["To"]) and "\n" not in str(mail["To"]) and mail["Bcc"] is None
    assert smtp.envelopes[-1][1] == ["dana@example.com"]  # the one parsed address, nobody else

"""Customers and people actually hear from the engine: real Temporal dev server, real PostgreSQL,
a real SMTP server on loopback, and the loopback Zendesk and Slack fakes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import Client

from activities.channels.email import SmtpConfig
from activities.channels.tickets import ZendeskClient
from activities.notifications import Notifier
from activities.roster import load_roster
from starter.cases import open_case, run_step, timeline
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import SmtpServer
from tests.fakes.zendesk import FakeZendesk
from tests.helpers import AGENT, eventually, fast_policy, ticket
from worker import build_worker
from workflows.complaint import ComplaintWorkflow
from workflows.models import AcknowledgeInput, CloseInput, CompensateInput, FixInput, FollowUpInput
from workflows.policy import NotificationPolicy, Policy

CONSOLE = "http://127.0.0.1:8000"
TEMPORAL_UI = "http://127.0.0.1:8233"


@pytest.fixture
def smtp():
    server = SmtpServer()
    yield server
    server.close()


@pytest.fixture
def zendesk():
    fake = FakeZendesk()
    yield fake
    fake.close()


@pytest.fixture
def slack():
    fake = FakeSlack()
    yield fake
    fake.close()


def write_roster(path: Path, lena_hook: str, tom_hook: str) -> Path:
    """Team leads lena and tom; the rotation makes lena on call this week (its start is this week's Monday)."""
    today = datetime.now(timezone.utc).date()
    monday = today - timedelta(days=today.weekday())
    path.write_text(f"""
[people.lena]
name = "Lena Lead"
slack = "{lena_hook}"
[people.tom]
name = "Tom Second"
slack = "{tom_hook}"

[roles.team-lead]
people = ["lena", "tom"]
rotation = {{ start = {monday.isoformat()}, handover = "mon 00:00", time_zone = "UTC" }}
""")
    return path


def channel_policy(**deadlines: str) -> Policy:
    base = fast_policy(**deadlines)
    return base.model_copy(
        update={
            "notifications": NotificationPolicy(
                channel="email", sender="Shop Care <care@shop.example>", reply_to="help@shop.example"
            )
        }
    )


async def notifier_worker(client: Client, queue: str, db: asyncpg.Pool, notifier: Notifier):
    return build_worker(client, pool=db, queue=queue, notifier=notifier)


def make_notifier(
    smtp: SmtpServer, zendesk: FakeZendesk, roster: Path, db: asyncpg.Pool, token: str | None = None
) -> Notifier:
    return Notifier(
        smtp=SmtpConfig.from_url(smtp.url, "care@shop.example"),
        zendesk=ZendeskClient(zendesk.url, zendesk.email, token or zendesk.token),
        roster=load_roster(roster),
        pool=db,
        console_url=CONSOLE,
        temporal_ui_url=TEMPORAL_UI,
    )


async def test_customer_gets_threaded_emails_and_escalation_reaches_the_on_call_lead(
    client: Client,
    task_queue: str,
    db: asyncpg.Pool,
    smtp: SmtpServer,
    zendesk: FakeZendesk,
    slack: FakeSlack,
    tmp_path: Path,
) -> None:
    lena, tom = slack.hook("lena"), slack.hook("tom")
    roster = write_roster(tmp_path / "roster.toml", lena, tom)
    zendesk.add_ticket("4711")
    t = ticket("zd-4711", source="zendesk", ticket_id="4711", order=None, customer="zd-user-9001")
    async with build_worker(client, pool=db, queue=task_queue, notifier=make_notifier(smtp, zendesk, roster, db)):
        opened = await open_case(client, t, channel_policy(ack="3s", interval="1h"), task_queue)
        case = opened.case_id

        async def escalated() -> bool:
            return any(
                e.type == "notified" and e.data["template"] == "escalation" for e in await timeline(client, case)
            )

        await eventually(escalated, timeout=60)
        await run_step(
            client, case, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT, message="Sorry about the size.")
        )
        await run_step(
            client, case, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="A size M is on its way.")
        )
        await run_step(
            client,
            case,
            ComplaintWorkflow.compensate,
            CompensateInput(actor=AGENT, kind="coupon", amount={"amount": "20.00", "currency": "USD"}, reason="sorry"),
        )

        async def asked() -> bool:
            return len(smtp.to("dana@example.com")) == 4

        await eventually(asked, timeout=60)
        await run_step(
            client, case, ComplaintWorkflow.complete_follow_up, FollowUpInput(actor=AGENT, outcome="satisfied", csat=5)
        )
        await run_step(client, case, ComplaintWorkflow.close, CloseInput(actor=AGENT, root_cause="other", note="Done."))
        events = await timeline(client, case)

    mails = smtp.to("dana@example.com")
    assert [m["Subject"] for m in mails] == [
        f"{s} [case {case}]"
        for s in ("We're sorry, Dana Example", "We've fixed it", "Making it right", "Did we make it right?")
    ]
    ids = [m["Message-ID"] for m in mails]
    assert len(set(ids)) == 4 and all(i.startswith(f"<complaint-{case.replace(':', '.')}.") for i in ids)
    for n, mail in enumerate(mails):  # one conversation: each message answers the one before
        assert mail["From"] == "Shop Care <care@shop.example>" and mail["Reply-To"] == "help@shop.example"
        assert mail["In-Reply-To"] == (ids[n - 1] if n else None)
        assert (mail["References"] or "").split() == ids[:n]
    assert "Sorry about the size." in mails[0].get_body(("plain",)).get_content()
    assert smtp.ids() == {i: 1 for i in ids}

    # The escalation reached lena, on call this week, on Slack (tom was not needed) ...
    (post,) = slack.posts(lena)
    assert slack.posts(tom) == []
    assert "escalated to level 1" in post["text"]
    links = post["blocks"][-1]["elements"][0]["text"]
    assert f"{CONSOLE}/cases/" in links and f"{TEMPORAL_UI}/namespaces/default/workflows/" in links
    # ... and the ticket got an internal note, a higher priority and the tag; the customer saw no comment.
    ticket_state = zendesk.tickets["4711"]
    assert ticket_state["priority"] == "high" and ticket_state["tags"] == ["recovery-escalated-1"]
    notes = zendesk.comments("4711", public=False)
    assert any("escalated to level 1" in c["body"] for c in notes)
    assert zendesk.comments("4711", public=True) == []
    # The timeline names who was notified.
    (notified,) = [e for e in events if e.type == "notified" and e.data["template"] == "escalation"]
    assert notified.data["notified"] == ["Lena Lead (lena) (slack)", "zendesk ticket 4711 (zendesk note)"]
    customer = [e.data["notified"] for e in events if e.type == "notified" and e.data["recipient"] == "customer"]
    assert customer == [["customer (email)"]] * 4
    assert "notification_failed" not in [e.type for e in events]


async def test_unreachable_lead_is_recorded_and_the_next_tried_and_a_401_does_not_stop_the_case(
    client: Client,
    task_queue: str,
    db: asyncpg.Pool,
    smtp: SmtpServer,
    zendesk: FakeZendesk,
    slack: FakeSlack,
    tmp_path: Path,
) -> None:
    tom = slack.hook("tom")
    roster = write_roster(tmp_path / "roster.toml", slack.unknown_hook(), tom)  # lena's hook was removed
    zendesk.add_ticket("4712")
    t = ticket("zd-4712", source="zendesk", ticket_id="4712", order=None, customer="zd-user-9002")
    policy = channel_policy(ack="2s", interval="1h")
    policy = policy.model_copy(update={"notifications": policy.notifications.model_copy(update={"channel": "both"})})
    notifier = make_notifier(smtp, zendesk, roster, db, token="revoked")
    async with build_worker(client, pool=db, queue=task_queue, notifier=notifier):
        opened = await open_case(client, t, policy, task_queue)

        async def escalated() -> list:
            return [
                e
                for e in await timeline(client, opened.case_id)
                if e.type == "notified" and e.data["template"] == "escalation"
            ]

        await eventually(escalated, timeout=60)
        after = await run_step(client, opened.case_id, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))

        async def apology_done() -> list:
            # The step answers at once; its messages go out beside the case.
            events = await timeline(client, opened.case_id)
            outcomes = [e for e in events if e.type in ("notified", "notification_failed")]
            return events if any(e.data.get("template") == "acknowledgement" for e in outcomes) else []

        events = await eventually(apology_done, timeout=30)

    assert after.step == "fix"  # the case went on
    unreachable = [e.data for e in events if e.type == "unreachable"]
    assert [u["person"] for u in unreachable] == ["Lena Lead (lena)"]
    failed = [e.data for e in events if e.type == "notification_failed"]
    lena_failure = next(f for f in failed if f["channel"] == "slack to Lena Lead (lena)")
    assert "Slack answered 404" in lena_failure["reason"] and "no_service" in lena_failure["reason"]
    (escalation,) = [e.data for e in events if e.type == "notified" and e.data["template"] == "escalation"]
    assert escalation["notified"] == ["Tom Second (tom) (slack)"]
    assert len(slack.posts(tom)) == 1
    # Zendesk refused the token: a clear error in the timeline (customer comment and internal note), no retry storm.
    zd_failures = [f for f in failed if f["channel"].startswith("zendesk")]
    assert zd_failures and all("Zendesk answered 401 — check the API credentials" in f["reason"] for f in zd_failures)
    assert {f["template"] for f in zd_failures} >= {"escalation", "acknowledgement"}
    assert sum(1 for method, path, _ in zendesk.requests if path.endswith("/comments.json")) == len(zd_failures)
    # The customer still got the apology by email.
    assert [m["Subject"] for m in smtp.to("dana@example.com")] == [f"We're sorry, Dana Example [case {opened.case_id}]"]

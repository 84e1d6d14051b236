"""Done when (issue 10): a case opened from a Zendesk webhook, worked only in (fake) Zendesk — the
first public reply acknowledges, pending pauses, the customer's reply resumes — while the customer
gets the apology, fix notice, compensation notice and follow-up question by email, threaded, and
the escalation reaches the on-call team lead on Slack and the ticket as an internal note with the
priority raised. Real Temporal dev server, real PostgreSQL, real SMTP; Zendesk, Jira, Slack fakes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from activities.channels.email import SmtpConfig
from activities.channels.tickets import ZendeskClient
from activities.notifications import Notifier
from activities.roster import load_roster
from starter.agents import load_agents
from starter.api import ApiSettings, create_app
from starter.cases import run_step, status, timeline
from starter.intake import IntakeConfig, JiraConfig, ZendeskConfig, sign_jira
from starter.intake.events import ZendeskRules
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import SmtpServer
from tests.fakes.zendesk import FakeZendesk
from tests.helpers import AGENT, database_of, eventually
from tests.workflows.test_channels import CONSOLE, TEMPORAL_UI, channel_policy, write_roster
from worker import build_worker
from workflows.complaint import ComplaintWorkflow
from workflows.models import CompensateInput, FollowUpInput
from workflows.policy import Policy

ROOT = Path(__file__).resolve().parents[2]
ZD_SECRET, JIRA_SECRET = "zd-hook-secret", "jira-hook-secret"


@pytest.fixture
def smtp() -> Any:
    server = SmtpServer()
    yield server
    server.close()


@pytest.fixture
def zendesk() -> Any:
    fake = FakeZendesk(webhook_secret=ZD_SECRET)
    yield fake
    fake.close()


@pytest.fixture
def slack() -> Any:
    fake = FakeSlack()
    yield fake
    fake.close()


def policy() -> Policy:
    base = channel_policy(ack="4s", interval="1h", follow_up="1s")
    return base.model_copy(update={"notifications": base.notifications.model_copy(update={"channel": "both"})})


@pytest.fixture
async def api(client: Client, task_queue: str, db: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async def database() -> asyncpg.Pool:
        return db

    settings = ApiSettings(
        agents=load_agents(str(ROOT / "starter" / "dev_agents.toml")),
        intake=IntakeConfig(
            zendesk=ZendeskConfig(
                secrets=[ZD_SECRET],
                events=ZendeskRules(agent_reply="record_fix"),
                api_user_id=str(FakeZendesk.api_user_id),
            ),
            jira=JiraConfig(secrets=[JIRA_SECRET]),
        ),
        policy=policy(),
        task_queue=task_queue,
        database=database,
    )

    async def connect() -> Client:
        return client

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings, connect)), base_url="http://api"
    ) as http:
        yield http


OWN = {"ignored": "the engine's own comment"}


async def pump(
    zendesk: FakeZendesk, api: httpx.AsyncClient, own: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Deliver the webhooks Zendesk has queued, as Zendesk would POST them; every answer is 202.
    Answers to the engine's own comments coming back go to `own`; the others are returned."""
    answers = []
    for raw, headers in zendesk.take_webhooks():
        response = await api.post("/v1/webhooks/zendesk", content=raw, headers=headers)
        assert response.status_code == 202, response.text
        (own if own is not None and response.json() == OWN else answers).append(response.json())
    return answers


async def test_a_zendesk_case_worked_only_in_zendesk_reaches_customer_and_on_call_lead(
    client: Client,
    task_queue: str,
    db: asyncpg.Pool,
    api: httpx.AsyncClient,
    smtp: SmtpServer,
    zendesk: FakeZendesk,
    slack: FakeSlack,
    tmp_path: Path,
) -> None:
    lena, tom = slack.hook("lena"), slack.hook("tom")
    roster = write_roster(tmp_path / "roster.toml", lena, tom)
    notifier = Notifier(
        smtp=SmtpConfig.from_url(smtp.url, "care@shop.example"),
        zendesk=ZendeskClient(zendesk.url, zendesk.email, zendesk.token),
        roster=load_roster(roster),
        pool=db,
        console_url=CONSOLE,
        temporal_ui_url=TEMPORAL_UI,
    )
    own: list[dict[str, Any]] = []
    async with build_worker(client, pool=db, queue=task_queue, notifier=notifier):
        # The customer writes in; the Zendesk trigger opens the case.
        zendesk.open_ticket(
            "5001", requester_id=9001, name="Dana Example", email="dana@example.com", subject="Wrong size shipped"
        )
        (opened,) = await pump(zendesk, api, own)
        assert opened["created"] is True
        case = opened["case_id"]
        assert case == "zendesk:5001"

        # Nobody acknowledges within 4 s: the ladder climbs to the team lead on call (lena).
        async def escalated() -> bool:
            return any(
                e.type == "notified" and e.data["template"] == "escalation"
                for e in await timeline(client, case, database_of(db))
            )

        await eventually(escalated, timeout=60)

        # The agent answers on the ticket: the first public reply acknowledges, with its text.
        zendesk.agent_reply("5001", "So sorry about the size mix-up, Dana.", agent_id=501)
        (ack,) = await pump(zendesk, api, own)
        assert ack["step"] == "acknowledge" and ack["applied"]

        # The agent asks for a photo and sets the ticket to pending: the case pauses.
        zendesk.set_status("5001", "pending")
        (paused,) = await pump(zendesk, api, own)
        assert paused["step"] == "pause" and paused["applied"]

        async def is_paused() -> bool:
            return (await status(client, case)).paused

        await eventually(is_paused, timeout=30)
        # A second "waiting" status while paused is refused by the case: recorded as ignored, still 202.
        zendesk.set_status("5001", "hold")
        (again,) = await pump(zendesk, api, own)
        assert again["applied"] is False and "already paused" in again["ignored"]

        # The customer replies on the ticket: the case resumes; the reply is in the timeline.
        zendesk.customer_reply("5001", "Here is the photo of the label.")
        (resumed,) = await pump(zendesk, api, own)
        assert resumed["step"] == "customer_message" and resumed["applied"]

        # The agent's next public reply records the fix (rule agent_reply = "record_fix").
        zendesk.agent_reply("5001", "A size M is on its way to you.", agent_id=501)
        await pump(zendesk, api, own)

        async def fixed() -> bool:
            return (await status(client, case)).step == "compensate"

        await eventually(fixed, timeout=30)
        await run_step(
            client,
            case,
            ComplaintWorkflow.compensate,
            CompensateInput(actor=AGENT, kind="coupon", amount={"amount": "15.00", "currency": "USD"}, reason="sorry"),
        )
        await eventually(lambda: _count(smtp, 4), timeout=60)
        await run_step(
            client, case, ComplaintWorkflow.complete_follow_up, FollowUpInput(actor=AGENT, outcome="satisfied", csat=5)
        )
        # Zendesk's webhooks for the engine's own comments come back: dropped, nothing loops.
        assert await pump(zendesk, api, own) == []
        events = await timeline(client, case, database_of(db))

    # Every comment the engine posted came back as a webhook and was dropped: 4 public, 1+ notes.
    assert len(own) >= 5
    # The customer's mailbox: four messages, one thread.
    mails = smtp.to("dana@example.com")
    assert [m["Subject"] for m in mails] == [
        f"{s} [case {case}]"
        for s in ("We're sorry, Dana Example", "We've fixed it", "Making it right", "Did we make it right?")
    ]
    ids = [m["Message-ID"] for m in mails]
    for n, mail in enumerate(mails):
        assert mail["In-Reply-To"] == (ids[n - 1] if n else None) and (mail["References"] or "").split() == ids[:n]
    assert "So sorry about the size mix-up, Dana." in mails[0].get_body(("plain",)).get_content()
    assert "A size M is on its way to you." in mails[1].get_body(("plain",)).get_content()
    # The same messages as public comments on the ticket (channel "both"), each once.
    public = [c["body"] for c in zendesk.comments("5001", public=True) if c["author_id"] == FakeZendesk.api_user_id]
    assert len(public) == 4 and all("recovery-ref:" in body for body in public)
    # The escalation: on-call lead on Slack, internal note, priority raised, tag.
    (post,) = slack.posts(lena)
    assert slack.posts(tom) == [] and "escalated to level 1" in post["text"]
    assert zendesk.tickets["5001"]["priority"] == "high" and "recovery-escalated-1" in zendesk.tickets["5001"]["tags"]
    assert any("escalated to level 1" in c["body"] for c in zendesk.comments("5001", public=False))
    # The timeline tells the story.
    types = [e.type for e in events]
    for kind in (
        "opened",
        "escalated",
        "acknowledged",
        "paused",
        "ticket_event_ignored",
        "customer_replied",
        "resumed",
        "fix_recorded",
        "compensation_issued",
        "follow_up_asked",
        "follow_up_done",
    ):
        assert kind in types, kind
    ack = next(e for e in events if e.type == "acknowledged")
    assert ack.actor == "zendesk-501" and ack.data["message"] == "So sorry about the size mix-up, Dana."
    assert next(e for e in events if e.type == "paused").data["reason"] == "ticket status pending"
    reply = next(e for e in events if e.type == "customer_replied")
    assert reply.data["counted"] is False and reply.data["text"] == "Here is the photo of the label."
    ignored = next(e for e in events if e.type == "ticket_event_ignored")
    assert ignored.data["rule"] == "status hold" and "already paused" in ignored.data["reason"]
    notified = next(e for e in events if e.type == "notified" and e.data["template"] == "escalation")
    assert notified.data["notified"][0] == "Lena Lead (lena) (slack)"
    assert types.count("acknowledged") == 1 and "notification_failed" not in types


async def _count(smtp: SmtpServer, n: int) -> bool:
    return len(smtp.to("dana@example.com")) == n


# ---- Jira ----------------------------------------------------------------------------------------


def jira_hook(body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {"X-Hub-Signature": sign_jira(JIRA_SECRET, raw), "Content-Type": "application/json"}


def jira_issue(key: str) -> dict[str, Any]:
    return {
        "key": key,
        "fields": {
            "summary": "Invoice charged twice",
            "reporter": {"accountId": "557058:cust", "displayName": "Cy Customer"},
        },
    }


async def test_jira_comments_and_waiting_status_drive_the_case(
    client: Client, task_queue: str, db: asyncpg.Pool, api: httpx.AsyncClient
) -> None:
    async with build_worker(client, pool=db, queue=task_queue, notifier=Notifier()):
        created = await api.post(
            "/v1/webhooks/jira",
            content=(
                hook := jira_hook(
                    {"webhookEvent": "jira:issue_created", "timestamp": 1763630000000, "issue": jira_issue("SUP-9")}
                )
            )[0],
            headers=hook[1],
        )
        assert created.status_code == 202 and created.json()["created"]
        case = created.json()["case_id"]

        async def send(body: dict[str, Any]) -> dict[str, Any]:
            raw, headers = jira_hook(body)
            response = await api.post("/v1/webhooks/jira", content=raw, headers=headers)
            assert response.status_code == 202, response.text
            return response.json()

        def comment(cid: str, account: str, text: str, **extra: Any) -> dict[str, Any]:
            return {
                "webhookEvent": "comment_created",
                "issue": jira_issue("SUP-9"),
                "comment": {
                    "id": cid,
                    "author": {"accountId": account},
                    "body": {
                        "type": "doc",
                        "version": 1,
                        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
                    },
                    **extra,
                },
            }

        # An internal note (restricted visibility) drives nothing; the engine's own comment neither.
        assert (await send(comment("1", "557058:agent", "internal", visibility={"type": "role", "value": "x"})))[
            "ignored"
        ]
        own = await send(comment("2", "557058:bot", "We're sorry\n\nrecovery-ref: complaint-x:1:0:ticket"))
        assert own == {"ignored": "the engine's own comment"}
        ack = await send(comment("3", "557058:agent", "Refund on its way."))
        assert ack["step"] == "acknowledge" and ack["applied"]
        waiting = await send(
            {
                "webhookEvent": "jira:issue_updated",
                "issue": jira_issue("SUP-9"),
                "changelog": {
                    "id": "100",
                    "items": [{"field": "status", "fromString": "In Progress", "toString": "Waiting for customer"}],
                },
            }
        )
        assert waiting["step"] == "pause" and waiting["applied"]
        reply = await send(comment("4", "557058:cust", "Thanks, I'll check my account."))
        assert reply["step"] == "customer_message" and reply["applied"]
        # A reply by the customer on a running case counts as a repeat contact.
        later = await send(comment("5", "557058:cust", "Still nothing?"))
        assert later["applied"]

        async def projected() -> bool:  # the read model counts the reply that was a repeat contact
            return await db.fetchval("SELECT contact_count FROM cases WHERE case_id = $1", case) == 2

        await eventually(projected, timeout=30)
        current = await status(client, case)
        events = await timeline(client, case, database_of(db))
    assert not current.paused and current.contact_count == 2
    replies = [e.data["counted"] for e in events if e.type == "customer_replied"]
    assert replies == [False, True]
    assert next(e for e in events if e.type == "paused").data["reason"] == "ticket status waiting for customer"


async def test_a_ticket_event_for_an_unknown_case_is_202_with_the_reason(
    api: httpx.AsyncClient, zendesk: FakeZendesk
) -> None:
    zendesk.add_ticket("404404")
    zendesk.agent_reply("404404", "Hello?")
    (answer,) = await pump(zendesk, api)
    assert answer["applied"] is False and answer["ignored"] == "no case for zendesk ticket 404404"

"""The channels one delivery at a time (activity environment): a real SMTP server on loopback,
the loopback Zendesk, Jira and Slack fakes, and a real PostgreSQL for the delivery log."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.channels.email import SmtpConfig
from activities.channels.tickets import JiraClient, ZendeskClient
from activities.notifications import Notifier
from activities.roster import parse_roster
from tests.fakes.jira import FakeJira
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import SmtpServer
from tests.fakes.zendesk import FakeZendesk
from workflows.effects import Delivery, Notification, NotifyContext
from workflows.templates import MessageTemplate

AT = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)  # a Monday, 16:00 in Berlin


@pytest.fixture
def smtp():
    server = SmtpServer()
    yield server
    server.close()


@pytest.fixture
def zendesk():
    fake = FakeZendesk()
    fake.add_ticket("123")
    yield fake
    fake.close()


@pytest.fixture
def jira():
    fake = FakeJira()
    fake.add_issue("SUP-7")
    yield fake
    fake.close()


@pytest.fixture
def slack():
    fake = FakeSlack()
    yield fake
    fake.close()


def note(
    template: str = "acknowledgement",
    *,
    seq: int = 2,
    audience: str = "customer",
    recipient: str = "customer",
    source: str = "zendesk",
    ticket_id: str = "123",
    thread: list[str] | None = None,
    level: int = 0,
    top: bool = False,
    severity: str = "normal",
    at: datetime = AT,
    channel: str = "email",
    overrides: dict[str, MessageTemplate] | None = None,
    **params: str,
) -> Notification:
    base = {
        "case": "cust-1:ord-1",
        "customer": "Dana Example",
        "subject": "Wrong size shipped",
        "message": "Sorry!",
        "fix_due": "Tue 24 Nov 2026 10:00 EST",
        "level": str(level),
        "step": "fix",
        "reason": "deadline missed",
        "percent": "50",
        "due": "soon",
    }
    return Notification(
        key=f"complaint-cust-1:ord-1:{seq}:0",
        case_id="cust-1:ord-1",
        workflow_id="complaint-cust-1:ord-1",
        audience=audience,
        recipient=recipient,
        template=template,
        params={**base, **params},
        context=NotifyContext(
            at=at,
            customer_email="dana@example.com",
            ticket_source=source,
            ticket_id=ticket_id,
            channel=channel,
            sender="Shop Care <care@shop.example>",
            reply_to="help@shop.example",
            thread=thread or [],
            severity=severity,
            level=level,
            top_level=top,
            overrides=overrides or {},
        ),
    )


def email_delivery(n: Notification, address: str = "dana@example.com") -> Delivery:
    return Delivery(key=n.key, channel="email", address=address, note=n)


async def deliver(notifier: Notifier, delivery: Delivery) -> Any:
    return await ActivityEnvironment().run(notifier.deliver, delivery)


# ---- email ------------------------------------------------------------------------------------


async def test_customer_email_is_mime_text_and_html_threaded_with_the_case(smtp: SmtpServer) -> None:
    notifier = Notifier(smtp=SmtpConfig.from_url(smtp.url, "recovery@shop.example"))
    first, second = (
        note(seq=2),
        note("fix_notice", seq=3, thread=["complaint-cust-1:ord-1:2:0"], description="A size M is on its way."),
    )
    await deliver(notifier, email_delivery(first))
    await deliver(notifier, email_delivery(second))

    assert smtp.tls_used == [True, True]  # STARTTLS, then AUTH (the server requires both)
    ack, fix = smtp.messages
    assert ack["From"] == "Shop Care <care@shop.example>" and ack["Reply-To"] == "help@shop.example"
    assert ack["To"] == "Dana Example <dana@example.com>"
    assert ack["Subject"] == "We're sorry, Dana Example [case cust-1:ord-1]"
    assert ack["Message-ID"] == "<complaint-cust-1.ord-1.2.0@shop.example>"
    assert ack["In-Reply-To"] is None
    assert fix["In-Reply-To"] == ack["Message-ID"] and fix["References"] == ack["Message-ID"]
    assert fix["Subject"] == "We've fixed it [case cust-1:ord-1]"
    plain = ack.get_body(("plain",)).get_content()
    html = ack.get_body(("html",)).get_content()
    assert 'We\'re sorry about "Wrong size shipped"' in plain and "Sorry!" in plain
    assert "<p>We&#x27;re sorry about &quot;Wrong size shipped&quot;" in html
    assert smtp.envelopes[0] == ("care@shop.example", ["dana@example.com"])


async def test_smtps_speaks_tls_from_the_first_byte() -> None:
    server = SmtpServer(implicit_tls=True)
    try:
        await deliver(Notifier(smtp=SmtpConfig.from_url(server.url, None)), email_delivery(note()))
        assert server.tls_used == [True] and len(server.messages) == 1
    finally:
        server.close()


async def test_smtp_outage_and_temporary_refusal_raise_for_a_retry(smtp: SmtpServer) -> None:
    notifier = Notifier(smtp=SmtpConfig.from_url(smtp.url, None))
    smtp.stop()
    with pytest.raises(Exception) as outage:
        await deliver(notifier, email_delivery(note()))
    assert not (isinstance(outage.value, ApplicationError) and outage.value.non_retryable)
    smtp.start()
    smtp.refuse_next = 1
    with pytest.raises(Exception, match="451"):
        await deliver(notifier, email_delivery(note()))
    await deliver(notifier, email_delivery(note()))
    assert len(smtp.messages) == 1


async def test_wrong_smtp_password_is_rejected_for_good(smtp: SmtpServer) -> None:
    notifier = Notifier(smtp=SmtpConfig.from_url(smtp.url.replace(":secret@", ":wrong@"), None))
    with pytest.raises(Exception, match="535|uthentication"):
        await deliver(notifier, email_delivery(note()))
    assert smtp.messages == []


async def test_an_accepted_delivery_is_not_sent_again(smtp: SmtpServer, db: asyncpg.Pool) -> None:
    notifier = Notifier(smtp=SmtpConfig.from_url(smtp.url, None), pool=db)
    first = await deliver(notifier, email_delivery(note()))
    again = await deliver(notifier, email_delivery(note()))
    assert not first.duplicate and again.duplicate
    assert smtp.ids() == {"<complaint-cust-1.ord-1.2.0@127.0.0.1>": 1}


async def test_ops_override_is_used_on_its_channel_only(smtp: SmtpServer, zendesk: FakeZendesk) -> None:
    override = {
        "email": MessageTemplate(
            subject="Apologies from Shop, $customer", body="Dear $customer,\n\nwe are sorry ($case). $message"
        )
    }
    n = note(overrides=override)
    notifier = Notifier(smtp=SmtpConfig.from_url(smtp.url, None), zendesk=_zd(zendesk))
    await deliver(notifier, email_delivery(n))
    await deliver(notifier, Delivery(key=f"{n.key}:ticket", channel="zendesk", address="123", note=n))
    mail = smtp.messages[0]
    assert mail["Subject"] == "Apologies from Shop, Dana Example [case cust-1:ord-1]"
    assert mail.get_body(("plain",)).get_content().splitlines() == [
        "Dear Dana Example,",
        "",
        "we are sorry (cust-1:ord-1). Sorry!",
    ]
    assert zendesk.comments("123")[0]["body"].startswith("We're sorry about")


# ---- tickets ----------------------------------------------------------------------------------


def _zd(fake: FakeZendesk, token: str | None = None) -> ZendeskClient:
    return ZendeskClient(fake.url, fake.email, token or fake.token)


def _jira(fake: FakeJira, token: str | None = None) -> JiraClient:
    return JiraClient(fake.url, fake.email, token or fake.token)


async def test_zendesk_public_comment_carries_its_marker_and_is_posted_once(zendesk: FakeZendesk) -> None:
    notifier = Notifier(zendesk=_zd(zendesk))
    n = note()
    delivery = Delivery(key=f"{n.key}:ticket", channel="zendesk", address="123", note=n)
    await deliver(notifier, delivery)
    again = await deliver(notifier, delivery)  # a resend after a crash: no delivery log here, the marker
    comments = zendesk.comments("123")
    assert len(comments) == 1 and "already there" in again.detail
    assert comments[0]["public"] is True
    assert comments[0]["body"].endswith(f"recovery-ref: {n.key}:ticket")
    assert [m for m, p, _ in zendesk.requests] == ["GET", "PUT", "GET"]
    assert zendesk.tickets["123"]["priority"] == "normal"


async def test_zendesk_escalation_note_is_internal_raises_priority_and_tags(zendesk: FakeZendesk) -> None:
    n = note("escalation", audience="internal", recipient="team-lead", level=2)
    await deliver(
        Notifier(zendesk=_zd(zendesk)),
        Delivery(key=f"{n.key}:note", channel="zendesk", address="123", internal=True, note=n),
    )
    (comment,) = zendesk.comments("123")
    assert comment["public"] is False and "escalated to level 2" in comment["body"]
    assert zendesk.tickets["123"]["priority"] == "urgent"
    assert zendesk.tickets["123"]["tags"] == ["recovery-escalated-2"]


async def test_zendesk_429_retries_after_its_retry_after(zendesk: FakeZendesk) -> None:
    zendesk.retry_after = 7
    zendesk.rate_limit_next = 1
    n = note()
    with pytest.raises(ApplicationError) as err:
        await deliver(Notifier(zendesk=_zd(zendesk)), Delivery(key=n.key, channel="zendesk", address="123", note=n))
    assert err.value.type == "RateLimited" and not err.value.non_retryable
    assert err.value.next_retry_delay == timedelta(seconds=7)


async def test_zendesk_401_is_a_clear_error_that_no_retry_repeats(zendesk: FakeZendesk) -> None:
    n = note()
    with pytest.raises(ApplicationError) as err:
        await deliver(
            Notifier(zendesk=_zd(zendesk, "wrong")), Delivery(key=n.key, channel="zendesk", address="123", note=n)
        )
    assert err.value.non_retryable and err.value.type == "ChannelRejected"
    assert "Zendesk answered 401 — check the API credentials" in str(err.value)
    assert zendesk.comments("123") == []


async def test_jira_comment_is_adf_internal_note_restricted_and_escalation_sets_priority(jira: FakeJira) -> None:
    notifier = Notifier(jira=_jira(jira))
    public = note(source="jira", ticket_id="SUP-7")
    await deliver(notifier, Delivery(key=f"{public.key}:ticket", channel="jira", address="SUP-7", note=public))
    esc = note(
        "escalation", seq=3, audience="internal", recipient="team-lead", source="jira", ticket_id="SUP-7", level=1
    )
    delivery = Delivery(key=f"{esc.key}:note", channel="jira", address="SUP-7", internal=True, note=esc)
    await deliver(notifier, delivery)
    await deliver(notifier, delivery)  # marker found: no second comment
    first, second = jira.comments("SUP-7")
    assert "visibility" not in first and first["text"].startswith("We're sorry about")
    assert second["visibility"] == {"type": "role", "value": "Administrators"}
    assert f"recovery-ref: {esc.key}:note" in second["text"]
    assert jira.issues["SUP-7"]["priority"] == "High" and jira.issues["SUP-7"]["labels"] == ["recovery-escalated-1"]


async def test_jira_401(jira: FakeJira) -> None:
    n = note(source="jira", ticket_id="SUP-7")
    with pytest.raises(ApplicationError, match="Jira answered 401") as err:
        await deliver(Notifier(jira=_jira(jira, "nope")), Delivery(key=n.key, channel="jira", address="SUP-7", note=n))
    assert err.value.non_retryable


# ---- Slack ------------------------------------------------------------------------------------


async def test_slack_message_has_blocks_linking_console_and_temporal_ui(slack: FakeSlack) -> None:
    hook = slack.hook("lena")
    notifier = Notifier(console_url="http://api.local:8000", temporal_ui_url="http://ui.local:8233", namespace="prod")
    n = note("escalation", audience="internal", recipient="team-lead", level=1)
    await deliver(notifier, Delivery(key=f"{n.key}:lena:slack", channel="slack", address=hook, person="lena", note=n))
    (post,) = slack.posts(hook)
    assert post["text"].startswith("Escalation: Case cust-1:ord-1 escalated to level 1")
    assert [b["type"] for b in post["blocks"]] == ["header", "section", "context"]
    links = post["blocks"][2]["elements"][0]["text"]
    assert "<http://api.local:8000/cases/cust-1%3Aord-1|" in links
    assert "<http://ui.local:8233/namespaces/prod/workflows/complaint-cust-1%3Aord-1|" in links


async def test_slack_unknown_hook_is_rejected_and_429_waits(slack: FakeSlack) -> None:
    n = note("escalation", audience="internal", recipient="team-lead", level=1)
    with pytest.raises(ApplicationError, match="404") as gone:
        await deliver(Notifier(), Delivery(key=n.key, channel="slack", address=slack.unknown_hook(), note=n))
    assert gone.value.non_retryable
    slack.rate_limit_next, slack.retry_after = 1, 3
    with pytest.raises(ApplicationError) as limited:
        await deliver(Notifier(), Delivery(key=n.key, channel="slack", address=slack.hook("x"), note=n))
    assert limited.value.next_retry_delay == timedelta(seconds=3)


# ---- planning ---------------------------------------------------------------------------------

ROSTER = """
[people.lena]
name = "Lena Lead"
slack = "{lena}"
email = "lena@shop.example"
[people.tom]
slack = "{tom}"
time_zone = "Europe/Berlin"
quiet_hours = ["22:00", "07:00"]
[people.max]
email = "max@shop.example"

[roles.team-lead]
people = ["lena", "tom"]
rotation = {{ start = 2026-11-02, handover = "mon 09:00", time_zone = "Europe/Berlin" }}

[roles.executive]
people = ["max", "lena"]
"""


def roster(slack: FakeSlack):
    return parse_roster(ROSTER.format(lena=slack.hook("lena"), tom=slack.hook("tom")))


async def plan(notifier: Notifier, n: Notification):
    return await ActivityEnvironment().run(notifier.plan, n)


async def test_plan_puts_the_on_call_person_first_and_stops_at_the_first_reached(
    slack: FakeSlack, zendesk: FakeZendesk
) -> None:
    notifier = Notifier(roster=roster(slack), zendesk=_zd(zendesk))
    # Week of 2026-11-23 is the fourth since the start: index 3 % 2 = 1, tom's week (hand-over 09:00 Berlin).
    got = await plan(notifier, note("escalation", audience="internal", recipient="team-lead", level=1))
    assert [t.label for t in got.targets] == ["tom", "Lena Lead (lena)"] and got.first_reachable
    assert [d.channel for d in got.targets[1].deliveries] == ["slack"]  # no SMTP on this worker: no email
    assert [(d.channel, d.internal) for t in got.also for d in t.deliveries] == [("zendesk", True)]
    before_handover = await plan(
        notifier,
        note(
            "escalation",
            audience="internal",
            recipient="team-lead",
            level=1,
            at=datetime(2026, 11, 23, 7, 59, tzinfo=timezone.utc),
        ),
    )
    assert before_handover.targets[0].label == "Lena Lead (lena)"


async def test_plan_at_the_top_level_reaches_everyone(slack: FakeSlack) -> None:
    got = await plan(
        Notifier(roster=roster(slack)),
        note("escalation", audience="internal", recipient="executive", level=3, top=True),
    )
    assert [t.label for t in got.targets] == ["Lena Lead (lena)"]  # max has only email, and no SMTP here
    assert not got.first_reachable


async def test_quiet_hours_hold_back_non_critical_warnings_only(slack: FakeSlack) -> None:
    notifier = Notifier(roster=roster(slack))
    night = datetime(2026, 11, 23, 22, 30, tzinfo=timezone.utc)  # 23:30 in Berlin
    warning = await plan(notifier, note("warning", audience="internal", recipient="team-lead", at=night))
    assert [t.label for t in warning.targets] == ["Lena Lead (lena)"] and warning.skipped == ["tom: quiet hours"]
    critical = await plan(
        notifier, note("warning", audience="internal", recipient="team-lead", at=night, severity="critical")
    )
    assert [t.label for t in critical.targets] == ["tom", "Lena Lead (lena)"]
    escalation = await plan(notifier, note("escalation", audience="internal", recipient="team-lead", at=night, level=1))
    assert escalation.targets[0].label == "tom"


async def test_plan_customer_channels_per_policy(smtp: SmtpServer, zendesk: FakeZendesk) -> None:
    notifier = Notifier(smtp=SmtpConfig.from_url(smtp.url, None), zendesk=_zd(zendesk))
    both = await plan(notifier, note(channel="both"))
    assert [d.channel for d in both.targets[0].deliveries] == ["email", "zendesk"]
    ticket = await plan(notifier, note(channel="ticket"))
    assert [d.channel for d in ticket.targets[0].deliveries] == ["zendesk"]
    generic = await plan(notifier, note(channel="ticket", source="generic"))  # no ticket to post on: email
    assert [d.channel for d in generic.targets[0].deliveries] == ["email"]


async def test_an_erased_customer_is_reached_on_the_ticket_or_recorded_as_undeliverable(zendesk: FakeZendesk) -> None:
    erased = note(channel="ticket")  # as an erased case queues it: no address, the ticket only
    assert erased.context is not None
    erased.context.customer_email = None
    on_ticket = await plan(Notifier(zendesk=_zd(zendesk)), erased)
    assert [d.channel for d in on_ticket.targets[0].deliveries] == ["zendesk"] and not on_ticket.skipped
    erased.context.ticket_source = "generic"
    nowhere = await plan(Notifier(), erased)
    assert not nowhere.targets and nowhere.recorded and "undeliverable" in nowhere.skipped[0]


def test_the_worker_configures_every_channel_from_its_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    roster_file = tmp_path / "roster.toml"
    roster_file.write_text(
        '[people.lena]\nslack = "https://hooks.slack.com/services/T/B/x"\n[roles.team-lead]\npeople = ["lena"]\n'
    )
    for name, value in {
        "RECOVERY_SMTP_URL": "smtps://mailer:pw@mail.example.com",
        "RECOVERY_MAIL_FROM": "care@shop.example",
        "RECOVERY_ZENDESK_URL": "https://shop.zendesk.com",
        "RECOVERY_ZENDESK_USER": "bot@shop.example",
        "RECOVERY_ZENDESK_TOKEN": "t",
        "RECOVERY_JIRA_URL": "https://shop.atlassian.net",
        "RECOVERY_JIRA_USER": "bot@shop.example",
        "RECOVERY_JIRA_TOKEN": "j",
        "RECOVERY_ROSTER": str(roster_file),
        "RECOVERY_CONSOLE_URL": "https://recovery.shop.example/",
    }.items():
        monkeypatch.setenv(name, value)
    notifier = Notifier.from_env()
    assert notifier.smtp is not None and notifier.smtp.implicit_tls and notifier.smtp.port == 465
    assert notifier.smtp.sender == "care@shop.example" and notifier.smtp.domain == "shop.example"
    assert notifier.zendesk is not None and notifier.zendesk.base_url == "https://shop.zendesk.com"
    assert (
        notifier.jira is not None and notifier.roster is not None and notifier.roster.order("team-lead", AT) == ["lena"]
    )
    assert notifier.case_url("a:b") == "https://recovery.shop.example/cases/a%3Ab"
    monkeypatch.setenv("RECOVERY_SMTP_URL", "http://nope")
    with pytest.raises(ValueError, match="RECOVERY_SMTP_URL"):
        Notifier.from_env()

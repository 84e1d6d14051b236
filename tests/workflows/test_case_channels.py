"""The pure step machine's side of the channels: notification context and threading, who was
notified, customer replies from the ticket, ignored ticket events."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.helpers import AGENT, fast_policy, ticket
from workflows.case import Case
from workflows.models import AcknowledgeInput, CustomerMessageInput, FixInput, IgnoredEventInput, PauseInput
from workflows.policy import NotificationPolicy
from workflows.templates import MessageTemplate

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)


def opened(**policy_args: str) -> Case:
    policy = fast_policy(**policy_args)
    policy = policy.model_copy(
        update={
            "notifications": NotificationPolicy(
                channel="both",
                sender="care@shop.example",
                overrides={"email": {"fix_notice": MessageTemplate(subject="Fixed: $subject")}},
            )
        }
    )
    return Case.open(ticket("pure", source="zendesk", ticket_id="4711"), policy, "complaint-cust-1:ord-1", T0)


def test_customer_messages_carry_the_thread_of_the_ones_before() -> None:
    case = opened()
    case.acknowledge(AcknowledgeInput(actor=AGENT, message="Sorry."), T0)
    case.record_fix(FixInput(actor=AGENT, description="Sent."), T0 + timedelta(minutes=5))
    notes = [e.notification for e in case.state.outbox if e.notification and e.notification.audience == "customer"]
    ack, fix = notes
    assert ack.context is not None and fix.context is not None
    assert ack.context.thread == [] and fix.context.thread == [ack.key]
    assert fix.context.channel == "both" and fix.context.ticket_source == "zendesk" and fix.context.ticket_id == "4711"
    assert fix.context.overrides == {"email": MessageTemplate(subject="Fixed: $subject")}
    assert ack.context.overrides == {}
    assert fix.context.customer_email == "dana@example.com" and fix.context.sender == "care@shop.example"


def test_escalation_context_says_its_level_and_whether_it_is_the_top() -> None:
    case = opened(ack="1h", interval="30m")
    case.tick(T0 + timedelta(hours=2))
    escalations = [
        e.notification.context for e in case.state.outbox if e.notification and e.notification.template == "escalation"
    ]
    assert [(c.level, c.top_level) for c in escalations if c] == [(1, False), (2, False), (3, True)]


def test_a_customer_reply_resumes_a_paused_case_and_is_no_repeat_contact() -> None:
    case = opened()
    case.pause(PauseInput(actor=AGENT, reason="ticket status pending"), T0)
    assert case.customer_message(
        CustomerMessageInput(event_id="zd:c:1", source="zendesk", text="Here it is."), T0 + timedelta(minutes=3)
    )
    assert not case.state.paused and case.state.contact_count == 1
    replied, resumed = case.state.events[-2:]
    assert replied.type == "customer_replied" and replied.data["counted"] is False
    assert replied.data["text"] == "Here it is." and resumed.type == "resumed" and resumed.actor == "customer"
    # The same event again changes nothing.
    seq = case.state.seq
    assert not case.customer_message(CustomerMessageInput(event_id="zd:c:1", source="zendesk"), T0)
    assert case.state.seq == seq


def test_a_customer_reply_on_a_running_case_counts_and_raises_at_the_threshold() -> None:
    case = opened()  # raise_after = 3: the opening contact is the first
    for n in (2, 3):
        case.customer_message(CustomerMessageInput(event_id=f"zd:c:{n}", source="zendesk", text="Hello?"), T0)
    assert case.state.contact_count == 3
    types = [e.type for e in case.state.events]
    assert types == ["opened", "customer_replied", "customer_replied", "severity_changed", "escalated"]
    # The two replies, queued while unsent, are one message to the team ("contacts 2–3").
    notes = [e.notification for e in case.state.outbox if e.notification]
    assert [n.template for n in notes] == ["new_case", "repeat_contact", "escalation"]
    assert notes[1].params["count"] == "2–3"


def test_a_reply_with_resume_off_keeps_the_case_paused() -> None:
    case = opened()
    case.pause(PauseInput(actor=AGENT, reason="waiting"), T0)
    case.customer_message(CustomerMessageInput(event_id="e1", source="zendesk", resume=False), T0)
    assert case.state.paused and case.state.events[-1].type == "customer_replied"


def test_an_ignored_ticket_event_is_recorded_once() -> None:
    case = opened()
    inp = IgnoredEventInput(
        event_id="zd:s:9", source="zendesk", rule="status pending", step="pause", reason="the case is already paused"
    )
    case.record_ignored(inp, T0)
    case.record_ignored(inp, T0)
    (event,) = [e for e in case.state.events if e.type == "ticket_event_ignored"]
    assert event.data == {
        "source": "zendesk",
        "event_id": "zd:s:9",
        "rule": "status pending",
        "step": "pause",
        "reason": "the case is already paused",
    }

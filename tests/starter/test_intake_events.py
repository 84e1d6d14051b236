"""Mapping ticket events on an open case (comments, status changes) from Zendesk and Jira bodies,
and the intake file's rules for them. Pure: no server."""

from __future__ import annotations

from typing import Any

import pytest

from starter.api.ticket_events import _plan
from starter.intake import (
    JiraConfig,
    OwnEvent,
    TicketActivity,
    ZendeskConfig,
    jira_activity,
    parse_intake_config,
    zendesk_activity,
)
from starter.intake.fields import PayloadError
from workflows.complaint import ComplaintWorkflow
from workflows.models import Actor

ZD = ZendeskConfig(secrets=["s"], api_user_id="7000")
JIRA = JiraConfig(secrets=["s"])
ACTOR = Actor(id="zendesk-501", role="agent")


def envelope(kind: str, event: dict[str, Any], requester: str = "9001") -> dict[str, Any]:
    return {
        "type": f"zen:event-type:ticket.{kind}",
        "id": "evt-1",
        "detail": {"id": "5001", "requester_id": requester},
        "event": event,
    }


def zd_comment(author: str, staff: bool, body: str = "Hello", public: bool = True) -> dict[str, Any]:
    return envelope(
        "comment_added",
        {"comment": {"id": "31", "body": body, "is_public": public, "author": {"id": author, "is_staff": staff}}},
    )


def test_zendesk_agent_and_requester_comments() -> None:
    agent = zendesk_activity(zd_comment("501", True, "We're on it"), ZD)
    assert agent == TicketActivity(
        source="zendesk",
        ticket_id="5001",
        event_id="zendesk:comment:31",
        kind="agent_reply",
        author="501",
        text="We're on it",
    )
    customer = zendesk_activity(zd_comment("9001", False), ZD)
    assert isinstance(customer, TicketActivity) and customer.kind == "customer_reply"


def test_zendesk_internal_notes_and_own_comments_drive_nothing() -> None:
    assert zendesk_activity(zd_comment("501", True, public=False), ZD) is None
    assert isinstance(zendesk_activity(zd_comment("7000", True, "Sorry"), ZD), OwnEvent)  # the API user
    marked = zd_comment("502", True, "Sorry\n\nrecovery-ref: complaint-zendesk:5001:3:0:ticket")
    assert zendesk_activity(marked, ZD) == OwnEvent(reason="the engine's own comment")


def test_zendesk_status_change_envelope_and_trigger_shapes() -> None:
    changed = zendesk_activity(envelope("status_changed", {"current": "PENDING", "previous": "OPEN"}), ZD)
    assert isinstance(changed, TicketActivity) and changed.kind == "status" and changed.status == "pending"
    assert changed.event_id == "zendesk:evt-1"
    trigger = zendesk_activity(
        {"event": "status_changed", "ticket_id": "5001", "status": "Hold", "updated_at": "2026-11-20T10:00:00Z"}, ZD
    )
    assert isinstance(trigger, TicketActivity) and trigger.status == "hold"
    comment = zendesk_activity(
        {
            "event": "comment_added",
            "ticket_id": "5001",
            "requester": {"id": "9001"},
            "comment": {"id": "32", "body": "Hi", "public": True, "author_id": "501", "author_role": "Agent"},
        },
        ZD,
    )
    assert isinstance(comment, TicketActivity) and comment.kind == "agent_reply"


def test_zendesk_ticket_created_and_plain_trigger_are_not_activity() -> None:
    assert zendesk_activity({"type": "zen:event-type:ticket.created", "detail": {}}, ZD) is None
    assert zendesk_activity({"ticket_id": "1", "subject": "x", "requester": {"id": "1"}}, ZD) is None


def test_zendesk_comment_without_author_names_the_field() -> None:
    body = envelope("comment_added", {"comment": {"id": "31", "body": "x"}})
    with pytest.raises(PayloadError, match="event.comment.author"):
        zendesk_activity(body, ZD)


def issue() -> dict[str, Any]:
    return {"key": "SUP-9", "fields": {"reporter": {"accountId": "557058:cust"}}}


def test_jira_comments_status_and_other_updates() -> None:
    agent = jira_activity(
        {
            "webhookEvent": "comment_created",
            "issue": issue(),
            "comment": {"id": "10", "author": {"accountId": "557058:agent"}, "body": "plain text body"},
        },
        JIRA,
    )
    assert isinstance(agent, TicketActivity) and agent.kind == "agent_reply" and agent.text == "plain text body"
    customer = jira_activity(
        {
            "webhookEvent": "comment_created",
            "issue": issue(),
            "comment": {"id": "11", "author": {"accountId": "557058:cust"}, "body": "me"},
        },
        JIRA,
    )
    assert isinstance(customer, TicketActivity) and customer.kind == "customer_reply"
    portal = jira_activity(
        {
            "webhookEvent": "comment_created",
            "issue": issue(),
            "comment": {
                "id": "12",
                "author": {"accountId": "qm:x", "accountType": "customer"},
                "body": "hi",
                "jsdPublic": True,
            },
        },
        JIRA,
    )
    assert isinstance(portal, TicketActivity) and portal.kind == "customer_reply"
    assert (
        jira_activity(
            {
                "webhookEvent": "comment_created",
                "issue": issue(),
                "comment": {"id": "13", "author": {"accountId": "a"}, "body": "note", "jsdPublic": False},
            },
            JIRA,
        )
        is None
    )
    status = jira_activity(
        {
            "webhookEvent": "jira:issue_updated",
            "issue": issue(),
            "changelog": {
                "id": "77",
                "items": [{"field": "assignee"}, {"field": "status", "toString": "Waiting for customer"}],
            },
        },
        JIRA,
    )
    assert isinstance(status, TicketActivity) and status.status == "waiting for customer"
    assert status.event_id == "jira:SUP-9:status:77"
    assert (
        jira_activity(
            {"webhookEvent": "jira:issue_updated", "issue": issue(), "changelog": {"items": [{"field": "summary"}]}},
            JIRA,
        )
        is None
    )


def test_rules_default_per_source_and_can_be_changed_in_the_intake_file() -> None:
    config = parse_intake_config("""
[zendesk]
secrets = ["s"]
[zendesk.events]
agent_reply = "record_fix"
customer_reply = "none"
[zendesk.events.status]
Solved = "none"
open = "resume"

[jira]
secrets = ["s"]
""")
    assert config.zendesk is not None and config.jira is not None
    rules = config.zendesk.events
    assert rules.agent_first_reply == "acknowledge" and rules.agent_reply == "record_fix"
    assert rules.status_step("OPEN") == "resume" and rules.status_step("pending") == "none"  # a table replaces it
    assert config.jira.events.status_step("Waiting for customer") == "pause"
    assert ZendeskConfig(secrets=["s"]).events.status_step("Pending") == "pause"


def test_a_bad_rule_is_an_intake_file_error() -> None:
    with pytest.raises(ValueError, match="zendesk.events.status.pending"):
        parse_intake_config('[zendesk]\nsecrets = ["s"]\n[zendesk.events.status]\npending = "close"\n', "intake.toml")


def activity(kind: str, **extra: Any) -> TicketActivity:
    return TicketActivity(source="zendesk", ticket_id="5001", event_id="e", kind=kind, text="Sorry!", **extra)


def test_plan_picks_the_step_by_the_case_state_and_rules() -> None:
    rules = ZD.events
    assert _plan(activity("agent_reply"), rules, "acknowledge", ACTOR)[:2] == (
        "first agent reply",
        ComplaintWorkflow.acknowledge,
    )
    assert _plan(activity("agent_reply"), rules, "fix", ACTOR)[:2] == ("agent reply", None)
    assert _plan(activity("status", status="pending"), rules, "fix", ACTOR)[1] == ComplaintWorkflow.pause
    assert _plan(activity("status", status="solved"), rules, "fix", ACTOR)[1] is None
    rule, update, inp = _plan(activity("customer_reply"), rules, "fix", ACTOR)
    assert (rule, update, inp.resume, inp.text) == (
        "customer reply",
        ComplaintWorkflow.customer_message,
        True,
        "Sorry!",
    )

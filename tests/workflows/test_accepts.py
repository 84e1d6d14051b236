"""The steps the engine says it accepts (what the console offers) match what its checks let through."""

from __future__ import annotations

from datetime import timedelta

from tests.helpers import AGENT, LEAD, OTHER_AGENT, fast_policy, ticket, utc
from workflows.case import Case, assignment_refusal
from workflows.models import (
    AcknowledgeInput,
    AssignInput,
    CompensateInput,
    FixInput,
    PauseInput,
    ResumeInput,
)

NOW = utc(2026, 11, 20, 10, 0)


def test_accepts_follows_the_case_through_its_steps() -> None:
    case = Case.open(ticket("acc"), fast_policy(), "complaint-acc", NOW)
    assert case.status(NOW).accepts == ["acknowledge", "pause", "assign"]
    case.pause(PauseInput(actor=AGENT, reason="photos"), NOW)
    assert case.status(NOW).accepts == ["resume", "assign"]  # no step while paused
    case.resume(ResumeInput(actor=AGENT), NOW)
    case.acknowledge(AcknowledgeInput(actor=AGENT), NOW)
    assert case.status(NOW).accepts == ["record_fix", "pause", "assign"]
    case.record_fix(FixInput(actor=AGENT, description="done"), NOW)
    assert case.status(NOW).accepts == ["compensate", "offer", "pause", "assign"]
    case.compensate(
        CompensateInput(actor=AGENT, kind="refund", amount={"amount": "120.00", "currency": "USD"}),
        NOW + timedelta(seconds=1),
    )
    # Pending approval: only the decision (whose approver the console then picks by role and person).
    assert case.status(NOW).accepts == ["approve_compensation", "pause", "assign"]


def test_assignment_rule_is_one_function_for_engine_and_pages() -> None:
    policy = fast_policy()
    assert assignment_refusal(policy, None, AGENT, AGENT.id) is None  # claim
    assert assignment_refusal(policy, None, AGENT, OTHER_AGENT.id) is None  # assign an unowned case
    assert assignment_refusal(policy, AGENT.id, AGENT, OTHER_AGENT.id) is None  # the owner hands on
    refused = assignment_refusal(policy, AGENT.id, OTHER_AGENT, OTHER_AGENT.id)
    assert refused is not None and refused.code == "forbidden"
    assert assignment_refusal(policy, AGENT.id, LEAD, OTHER_AGENT.id) is None  # a lead reassigns
    same = assignment_refusal(policy, AGENT.id, LEAD, AGENT.id)
    assert same is not None and same.code == "conflict"
    case = Case.open(ticket("acc-2"), policy, "complaint-acc-2", NOW)
    case.assign(AssignInput(actor=AGENT, assignee=AGENT.id), NOW)
    assert case.status(NOW).assignee == "alice"
    assert [e.data["how"] for e in case.state.events if e.type == "assigned"] == ["claimed"]

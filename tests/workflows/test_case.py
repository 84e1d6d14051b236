"""The pure step machine, without a server: business-time deadlines, severity changes, caps, step
order, authority and approval, follow-up and reopening, root causes, repeat contacts."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.helpers import AGENT, LEAD, OTHER_AGENT, fast_policy, ticket
from workflows.case import Case, Rejection
from workflows.models import (
    AcknowledgeInput,
    ApprovalInput,
    ChangeSeverityInput,
    CloseInput,
    CompensateInput,
    FixInput,
    FollowUpInput,
    PauseInput,
    ResumeInput,
)
from workflows.policy import Policy

NY = ZoneInfo("America/New_York")


def business_policy(ack: str = "2h") -> Policy:
    policy = fast_policy(clock="business", ack=ack)
    data = policy.model_dump(mode="json")
    data["calendar"] = {
        "time_zone": "America/New_York",
        "working_hours": ["09:00", "17:00"],
        "working_days": ["mon", "tue", "wed", "thu", "fri"],
        "holidays": ["2026-11-26"],
    }
    return Policy.model_validate(data)


def opened(at: datetime, policy: Policy) -> Case:
    return Case.open(ticket("pure"), policy, "complaint-cust-1:ord-1", at)


@pytest.mark.parametrize(
    ("opened_at", "due"),
    [
        # Friday 16:30 with 2 business hours → Monday 10:30.
        (datetime(2026, 10, 16, 16, 30, tzinfo=NY), datetime(2026, 10, 19, 10, 30, tzinfo=NY)),
        # Across the DST change (US clocks fall back on Sunday 2026-11-01).
        (datetime(2026, 10, 30, 16, 30, tzinfo=NY), datetime(2026, 11, 2, 10, 30, tzinfo=NY)),
        # Across the spring change (2026-03-08).
        (datetime(2026, 3, 6, 16, 30, tzinfo=NY), datetime(2026, 3, 9, 10, 30, tzinfo=NY)),
        # Wednesday 16:30 before the Thanksgiving holiday (Thursday 26th) → Friday 10:30.
        (datetime(2026, 11, 25, 16, 30, tzinfo=NY), datetime(2026, 11, 27, 10, 30, tzinfo=NY)),
    ],
)
def test_business_time_deadline_of_a_new_case(opened_at: datetime, due: datetime) -> None:
    case = opened(opened_at, business_policy())
    assert case.status(opened_at).deadlines.due_at == due
    wake = case.next_wakeup()
    assert wake is not None and wake.summary == "acknowledge: 50% warning"
    # 50% of two business hours: 30 minutes on Friday and 30 on Monday → Monday 09:30.
    assert wake.at == due - timedelta(hours=1)


def test_changing_severity_keeps_elapsed_time() -> None:
    policy = fast_policy(ack="1h")
    data = policy.model_dump(mode="json")
    data["severities"]["critical"]["acknowledge"] = "15m"
    policy = Policy.model_validate(data)
    t0 = datetime(2026, 11, 20, 12, 0, tzinfo=ZoneInfo("UTC"))
    case = opened(t0, policy)
    case.change_severity(
        ChangeSeverityInput(actor=AGENT, severity="critical", reason="VIP"), t0 + timedelta(minutes=10)
    )
    status = case.status(t0 + timedelta(minutes=10))
    assert status.severity == "critical"
    assert status.deadlines.due_at == t0 + timedelta(minutes=15)
    assert status.deadlines.remaining_seconds == 5 * 60


def test_pause_keeps_remaining_budget() -> None:
    t0 = datetime(2026, 11, 20, 12, 0, tzinfo=ZoneInfo("UTC"))
    case = opened(t0, fast_policy(ack="1h"))
    case.pause(PauseInput(actor=AGENT, reason="waiting"), t0 + timedelta(minutes=20))
    assert case.next_wakeup().summary != "acknowledge: escalate to team-lead"
    case.resume(ResumeInput(actor=AGENT), t0 + timedelta(hours=5))
    assert case.status(t0 + timedelta(hours=5)).deadlines.due_at == t0 + timedelta(hours=5, minutes=40)


def test_steps_while_paused_are_refused() -> None:
    t0 = datetime(2026, 11, 20, 12, 0, tzinfo=ZoneInfo("UTC"))
    case = opened(t0, fast_policy())
    case.pause(PauseInput(actor=AGENT, reason="waiting"), t0)
    with pytest.raises(Rejection, match="paused"):
        case.check_acknowledge(AcknowledgeInput(actor=AGENT))


def test_compensation_above_the_customer_cap_is_refused() -> None:
    t0 = datetime(2026, 11, 20, 12, 0, tzinfo=ZoneInfo("UTC"))
    case = opened(t0, fast_policy())
    case.acknowledge(AcknowledgeInput(actor=AGENT), t0)
    case.record_fix(FixInput(actor=AGENT, description="done"), t0)
    with pytest.raises(Rejection) as refused:
        case.check_compensate(
            CompensateInput(actor=AGENT, kind="refund", amount={"amount": "10000.01", "currency": "USD"}), t0
        )
    assert refused.value.code == "forbidden" and "above the cap of 10000.00" in refused.value.message


# ---- rules the pure machine decides (the dev-server tests in test_steps.py show the same through updates)

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=ZoneInfo("UTC"))


def at_compensate(policy: Policy | None = None) -> Case:
    case = opened(T0, policy or fast_policy())
    case.acknowledge(AcknowledgeInput(actor=AGENT), T0)
    case.record_fix(FixInput(actor=AGENT, description="Sent the right size."), T0)
    return case


def issue_pending(case: Case) -> None:
    """What the workflow does after the issue activity succeeds."""
    comp = next(c for c in case.state.compensations if c.status == "issuing")
    case.compensation_issued(comp.seq, f"ref-{comp.seq}", T0)


def ask_follow_up(case: Case) -> datetime:
    """Run the timers until the engine has asked the customer; returns when that was."""
    while not case.state.clock.follow_up_asked:
        wake = case.next_wakeup()
        assert wake is not None
        case.tick(wake.at)
    return wake.at


def test_out_of_order_steps_are_refused_naming_the_current_step_and_write_nothing() -> None:
    case = opened(T0, fast_policy())
    case.acknowledge(AcknowledgeInput(actor=AGENT), T0)
    before = [e.type for e in case.state.events]
    for check in (
        lambda: case.check_compensate(CompensateInput(actor=AGENT, kind="none", reason="x"), T0),
        lambda: case.check_close(CloseInput(actor=AGENT, root_cause="other", note="x")),
        lambda: case.acknowledge(AcknowledgeInput(actor=AGENT), T0),
    ):
        with pytest.raises(Rejection) as refused:
            check()
        assert refused.value.code == "out_of_order" and "step 'fix'" in refused.value.message
    assert [e.type for e in case.state.events] == before == ["opened", "acknowledged"]


def test_compensation_within_authority_is_issued_and_the_case_moves_on() -> None:
    case = at_compensate()
    comp = case.compensate(
        CompensateInput(actor=AGENT, kind="coupon", amount={"amount": "10.00", "currency": "USD"}), T0
    )
    assert comp.status == "issuing" and case.state.step == "compensate"
    issue_pending(case)
    assert case.state.step == "follow_up"
    assert [(c.status, c.reference) for c in case.state.compensations] == [("issued", f"ref-{comp.seq}")]


def test_compensation_over_authority_needs_someone_elses_approval_within_their_ceiling() -> None:
    case = at_compensate()
    comp = case.compensate(
        CompensateInput(actor=AGENT, kind="refund", amount={"amount": "120.00", "currency": "USD"}), T0
    )
    assert comp.status == "pending_approval" and case.pending_compensation is comp
    with pytest.raises(Rejection) as own:
        case.check_approval(ApprovalInput(actor=AGENT, approve=True))
    assert own.value.code == "forbidden" and "self-approval" in own.value.message
    with pytest.raises(Rejection, match="may not approve"):
        case.check_approval(ApprovalInput(actor=OTHER_AGENT, approve=True))
    with pytest.raises(Rejection) as conflict:
        case.check_compensate(CompensateInput(actor=AGENT, kind="none", reason="x"), T0)
    assert conflict.value.code == "conflict"
    case.decide_approval(ApprovalInput(actor=LEAD, approve=True), T0)
    issue_pending(case)
    assert case.state.step == "follow_up"
    assert [(c.status, c.approved_by.id if c.approved_by else None) for c in case.state.compensations] == [
        ("issued", "lena")
    ]


def test_an_approval_above_the_approvers_ceiling_is_refused() -> None:
    case = at_compensate()
    case.compensate(CompensateInput(actor=AGENT, kind="refund", amount={"amount": "7455.00", "currency": "USD"}), T0)
    with pytest.raises(Rejection) as refused:
        case.check_approval(ApprovalInput(actor=LEAD, approve=True))
    assert refused.value.code == "forbidden" and "above what role 'team-lead' may approve" in refused.value.message
    case.check_approval(ApprovalInput(actor=LEAD, approve=False))  # rejecting is always within a lead's remit


def test_a_rejected_compensation_returns_the_step_to_the_agent() -> None:
    case = at_compensate()
    case.compensate(CompensateInput(actor=AGENT, kind="credit", amount={"amount": "300.00", "currency": "USD"}), T0)
    case.decide_approval(ApprovalInput(actor=LEAD, approve=False, note="Offer a coupon."), T0)
    assert case.state.step == "compensate" and case.pending_compensation is None
    assert [e.type for e in case.state.events][-2:] == ["compensation_proposed", "compensation_rejected"]
    case.compensate(CompensateInput(actor=AGENT, kind="coupon", amount={"amount": "25.00", "currency": "USD"}), T0)
    issue_pending(case)
    assert case.state.step == "follow_up"


def test_follow_up_waits_for_the_engine_to_ask_and_unsatisfied_reopens_at_fix() -> None:
    case = at_compensate()
    case.compensate(CompensateInput(actor=AGENT, kind="none", reason="Nothing owed."), T0)
    issue_pending(case)
    with pytest.raises(Rejection) as early:
        case.check_follow_up(FollowUpInput(actor=AGENT, outcome="satisfied"))
    assert early.value.code == "not_ready"
    asked = ask_follow_up(case)
    case.complete_follow_up(FollowUpInput(actor=AGENT, outcome="unsatisfied", csat=2), asked)
    assert case.state.step == "fix"
    assert [e.type for e in case.state.events][-2:] == ["follow_up_done", "reopened"]
    assert case.status(asked).deadlines.due_at == asked + timedelta(hours=4)  # the fix budget starts again


def test_close_needs_a_root_cause_from_the_policy() -> None:
    case = at_compensate()
    case.compensate(CompensateInput(actor=AGENT, kind="none", reason="Nothing owed."), T0)
    issue_pending(case)
    asked = ask_follow_up(case)
    case.complete_follow_up(FollowUpInput(actor=AGENT, outcome="satisfied"), asked)
    with pytest.raises(Rejection) as unknown:
        case.check_close(CloseInput(actor=AGENT, root_cause="gremlins", note="?"))
    assert unknown.value.code == "invalid" and "unknown root cause 'gremlins'" in unknown.value.message
    case.close(CloseInput(actor=AGENT, root_cause="wrong-item-shipped", note="Size chart fixed."), asked)
    assert case.closed and case.state.root_cause == "wrong-item-shipped" and case.next_wakeup() is None
    with pytest.raises(Rejection) as after:
        case.check_pause(PauseInput(actor=AGENT, reason="x"))
    assert after.value.code == "closed"


def test_contacts_repeat_events_are_duplicates_and_every_third_raises_severity_and_escalates() -> None:
    case = opened(T0, fast_policy())
    first = ticket("pure")
    assert (case.add_contact(first, T0).created, case.add_contact(first, T0).duplicate) == (True, True)
    second = case.add_contact(ticket("pure-2"), T0)
    assert (second.created, second.duplicate, second.contact_count) == (False, False, 2)
    assert case.add_contact(ticket("pure-2"), T0).duplicate
    severity = case.state.severity
    case.add_contact(ticket("pure-3"), T0)
    assert case.state.contact_count == 3
    assert case.state.severity is severity.raised() and case.state.escalation_level == 1
    assert case.state.events[-1].type == "escalated"
    assert case.state.events[-1].data["reason"] == "3 contacts on this case"

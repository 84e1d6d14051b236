"""The pure step machine, without a server: business-time deadlines, severity changes, caps."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.helpers import AGENT, fast_policy, ticket
from workflows.case import Case, Rejection
from workflows.models import AcknowledgeInput, ChangeSeverityInput, CompensateInput, FixInput, PauseInput, ResumeInput
from workflows.policy import Policy

NY = ZoneInfo("America/New_York")


def business_policy(ack: str = "2h") -> Policy:
    policy = fast_policy(clock="business", ack=ack)
    data = policy.model_dump(mode="json")
    data["calendar"] = {"time_zone": "America/New_York", "working_hours": ["09:00", "17:00"],
                        "working_days": ["mon", "tue", "wed", "thu", "fri"], "holidays": ["2026-11-26"]}
    return Policy.model_validate(data)


def opened(at: datetime, policy: Policy) -> Case:
    return Case.open(ticket("pure"), policy, "complaint-cust-1:ord-1", at)


@pytest.mark.parametrize(("opened_at", "due"), [
    # Friday 16:30 with 2 business hours → Monday 10:30.
    (datetime(2026, 10, 16, 16, 30, tzinfo=NY), datetime(2026, 10, 19, 10, 30, tzinfo=NY)),
    # Across the DST change (US clocks fall back on Sunday 2026-11-01).
    (datetime(2026, 10, 30, 16, 30, tzinfo=NY), datetime(2026, 11, 2, 10, 30, tzinfo=NY)),
    # Across the spring change (2026-03-08).
    (datetime(2026, 3, 6, 16, 30, tzinfo=NY), datetime(2026, 3, 9, 10, 30, tzinfo=NY)),
    # Wednesday 16:30 before the Thanksgiving holiday (Thursday 26th) → Friday 10:30.
    (datetime(2026, 11, 25, 16, 30, tzinfo=NY), datetime(2026, 11, 27, 10, 30, tzinfo=NY)),
])
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
    case.change_severity(ChangeSeverityInput(actor=AGENT, severity="critical", reason="VIP"), t0 + timedelta(minutes=10))
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
        case.check_compensate(CompensateInput(actor=AGENT, kind="refund",
                                              amount={"amount": "10000.01", "currency": "USD"}), t0)
    assert refused.value.code == "forbidden" and "above the cap of 10000.00" in refused.value.message

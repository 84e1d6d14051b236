"""Pause budget and pause semantics in the pure step machine, with the complaints ops teams have about
other tools: pending time counted over weekends, pause time lost after a priority change, a pause
spanning a holiday. America/New_York is UTC-5 in November (EST)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.helpers import AGENT, fast_policy, ticket
from workflows.case import Case, Rejection
from workflows.models import ApplyPolicyInput, ChangeSeverityInput, PauseInput, ResumeInput
from workflows.policy import Policy

NY = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")
H = 3600.0


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


def make_policy(clock: str = "business", **severities: dict[str, Any]) -> Policy:
    data = fast_policy(clock=clock, ack="4h").model_dump(mode="json")
    data["calendar"] = {
        "time_zone": "America/New_York",
        "working_hours": ["09:00", "17:00"],
        "working_days": ["mon", "tue", "wed", "thu", "fri"],
        "holidays": ["2026-11-26"],
    }
    for name, changes in severities.items():
        data["severities"][name].update(changes)
    return Policy.model_validate(data)


def open_case(at: datetime, policy: Policy) -> Case:
    return Case.open(ticket("pause"), policy, "complaint-cust-1:ord-1", at)


def pause(case: Case, at: datetime) -> None:
    case.pause(PauseInput(actor=AGENT, reason="waiting on the customer"), at)


def resume(case: Case, at: datetime) -> None:
    case.resume(ResumeInput(actor=AGENT), at)


def run_until(case: Case, until: datetime) -> None:
    """Fire the machine's timers up to `until`, as the workflow's timer loop does."""
    for _ in range(100):
        wake = case.next_wakeup()
        if wake is None or wake.at > until:
            return
        case.tick(wake.at)
    raise AssertionError("timers do not settle")


def test_pause_budget_ends_a_running_pause_and_refuses_the_next() -> None:
    policy = make_policy(clock="wall", normal={"max_pause": "2h"})
    t0 = datetime(2026, 11, 23, 12, tzinfo=UTC)
    case = open_case(t0, policy)
    pause(case, t0 + timedelta(minutes=10))
    resume(case, t0 + timedelta(hours=1, minutes=10))  # 1h used
    assert case.state.events[-1].data["pause_used_seconds"] == H
    pause(case, t0 + timedelta(hours=2))
    assert case.state.events[-1].data["pause_left_seconds"] == H
    wake = case.next_wakeup()
    assert wake is not None and wake.summary == "pause budget used up: resume"
    assert wake.at == t0 + timedelta(hours=3)
    case.tick(wake.at)
    resumed = case.state.events[-1]
    assert resumed.type == "resumed" and resumed.actor == "engine"
    assert resumed.data["reason"] == "pause budget used up" and resumed.data["pause_used_seconds"] == 2 * H
    # The clock runs again: 10m of the 4h budget had gone before the first pause, 50m between pauses.
    assert case.status(wake.at).deadlines.remaining_seconds == 3 * H
    told = [e.notification for e in case.state.outbox if e.notification and e.notification.template == "pause_ended"]
    assert len(told) == 1 and told[0].recipient == "agent" and told[0].params["budget"] == "2h"
    with pytest.raises(Rejection) as refused:
        pause(case, wake.at + timedelta(minutes=5))
    assert refused.value.code == "conflict"
    assert refused.value.message == (
        "cannot pause: the pause budget is used up (paused 2h of 2h allowed at severity normal, counted in wall time)"
    )


def test_pending_over_a_weekend_is_not_counted_as_pause_or_budget() -> None:
    policy = make_policy(normal={"max_pause": "3h"})
    case = open_case(ny(2026, 11, 20, 14), policy)  # Fri 14:00, due Mon 10:00 (3h Friday + 1h Monday)
    pause(case, ny(2026, 11, 20, 16))  # 2h spent
    # The weekend is not working time: no auto-resume before Monday, the budget is counted from Fri
    # 16:00-17:00 (1h) and Mon 09:00-11:00 (2h): the pause ends by itself Mon 11:00 EST = 16:00Z.
    wake = case.next_wakeup()
    assert wake is not None and wake.summary == "pause budget used up: resume" and wake.at == ny(2026, 11, 23, 11)
    resume(case, ny(2026, 11, 23, 10))  # the customer answered Monday 10:00
    data = case.state.events[-1].data
    assert data["paused_seconds"] == 66 * H  # wall time, for the record
    assert data["pause_used_seconds"] == 2 * H  # what counts against max_pause: working hours only
    # And none of it was taken from the step: 2h left → due Mon 12:00.
    assert case.status(ny(2026, 11, 23, 10)).deadlines.due_at == ny(2026, 11, 23, 12)


def test_priority_changed_while_paused_keeps_elapsed_budget_and_pause_time() -> None:
    policy = make_policy(
        normal={"acknowledge": "4h", "max_pause": "3h"}, high={"acknowledge": "2h", "max_pause": "1h30m"}
    )
    case = open_case(ny(2026, 11, 23, 9), policy)  # Monday 09:00
    pause(case, ny(2026, 11, 23, 10))  # 1h of the budget spent
    case.change_severity(ChangeSeverityInput(actor=AGENT, severity="high", reason="VIP"), ny(2026, 11, 23, 11))
    status = case.status(ny(2026, 11, 23, 11))
    assert status.paused and status.severity == "high"
    assert status.deadlines.remaining_seconds == 1 * H  # 2h at high, minus the 1h spent: nothing restarted
    assert case.state.pause_used == 1 * H  # the pause so far is kept
    # High allows 1h30m of pause in total: 30 minutes are left, so the pause ends at 11:30 by itself,
    # and the acknowledge deadline is 11:30 + the 1h left = 12:30.
    run_until(case, ny(2026, 11, 23, 12))
    assert not case.state.paused
    assert case.status(ny(2026, 11, 23, 12)).deadlines.due_at == ny(2026, 11, 23, 12, 30)
    resumed = [e for e in case.state.events if e.type == "resumed"]
    assert [(e.at, e.actor, e.data["pause_used_seconds"]) for e in resumed] == [
        (ny(2026, 11, 23, 11, 30), "engine", 1.5 * H)
    ]


def test_policy_change_while_paused_keeps_pause_time() -> None:
    policy = make_policy(normal={"max_pause": "3h"})
    case = open_case(ny(2026, 11, 23, 9), policy)
    pause(case, ny(2026, 11, 23, 10))
    stricter = make_policy(normal={"max_pause": "2h"})
    case.apply_policy(ApplyPolicyInput(actor=AGENT, policy=stricter), ny(2026, 11, 23, 11))
    assert case.state.pause_used == 1 * H
    wake = case.next_wakeup()
    assert wake is not None and wake.at == ny(2026, 11, 23, 12)  # 1h of the new 2h budget is left


def test_pause_spanning_a_holiday() -> None:
    policy = make_policy(normal={"max_pause": "3h"})
    # Wednesday before Thanksgiving (Thu 26 Nov, a holiday in the calendar), 15:00; 4h to acknowledge.
    case = open_case(ny(2026, 11, 25, 15), policy)
    pause(case, ny(2026, 11, 25, 16))  # 1h spent
    # The pause counts Wed 16-17 (1h), not the holiday, then Fri 09-11 (2h): it ends Fri 11:00 by itself.
    wake = case.next_wakeup()
    assert wake is not None and wake.summary == "pause budget used up: resume" and wake.at == ny(2026, 11, 27, 11)
    resume(case, ny(2026, 11, 27, 10))
    assert case.state.events[-1].data["pause_used_seconds"] == 2 * H
    assert case.status(ny(2026, 11, 27, 10)).deadlines.due_at == ny(2026, 11, 27, 13)  # 3h of 4h left


def test_no_budget_means_no_limit() -> None:
    case = open_case(ny(2026, 11, 23, 9), make_policy())
    pause(case, ny(2026, 11, 23, 10))
    wake = case.next_wakeup()
    assert wake is not None and wake.summary != "pause budget used up: resume"


def test_max_pause_key_is_validated() -> None:
    from workflows.policy import PolicyError
    from workflows.policy_files import default_policy_text, parse_policy

    text = default_policy_text().replace(
        '[severities.high]\nclock = "wall"', '[severities.high]\nclock = "wall"\nmax_pause = "soon"'
    )
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.toml")
    assert "p.toml: severities.high.max_pause: invalid duration 'soon'" in str(info.value)

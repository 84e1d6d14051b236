"""The policy simulator without a server: fidelity on a varied set of cases made by the step machine
itself, the same report from several worker processes, and a pause budget in a candidate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bench.simulation import make_histories
from tests.helpers import AGENT, fast_policy, ticket
from workflows.case import Case
from workflows.models import AcknowledgeInput, PauseInput, ResumeInput
from workflows.policy import Policy
from workflows.policy_files import load_policy
from workflows.simulation import CaseHistory, format_simulation, simulate


def test_the_recorded_policy_reproduces_every_case() -> None:
    policy = load_policy(None)  # business clocks for normal/low, wall for high/critical
    histories = make_histories(150, policy)  # pauses, severity changes, approvals, follow-ups, open cases
    kinds = {e.type for h in histories for e in h.events}
    assert {
        "paused",
        "resumed",
        "severity_changed",
        "compensation_approved",
        "follow_up_done",
        "closed",
        "escalated",
        "warning",
        "customer_updated",
    } <= kinds
    report = simulate(histories, policy)
    assert report.totals.cases == 150 and report.totals.changed == 0, report.changed[:3]
    assert report.totals.actual_breaches == report.totals.candidate_breaches > 0
    assert all(row.actual == row.candidate for row in report.steps)


def test_worker_processes_give_the_same_report_byte_for_byte() -> None:
    policy = load_policy(None)
    histories = make_histories(60, policy)
    data = policy.model_dump(mode="json")
    for deadlines in data["severities"].values():
        deadlines["acknowledge"] = "20m"
    candidate = Policy.model_validate(data)
    one = simulate(histories, candidate)
    two = simulate(histories, candidate, workers=2, parallel_from=0)
    assert one.totals.changed > 0
    assert two.model_dump_json() == one.model_dump_json()
    assert format_simulation(two) == format_simulation(one)


def test_a_candidate_pause_budget_ends_a_recorded_pause_early() -> None:
    t0 = datetime(2026, 11, 23, 12, tzinfo=UTC)
    policy = fast_policy(ack="2h")
    case = Case.open(ticket("sim-pause"), policy, "complaint-sim-pause", t0)
    case.pause(PauseInput(actor=AGENT, reason="waiting on photos"), t0 + timedelta(minutes=30))
    case.resume(ResumeInput(actor=AGENT), t0 + timedelta(hours=3, minutes=30))  # 3h paused
    case.acknowledge(AcknowledgeInput(actor=AGENT), t0 + timedelta(hours=4, minutes=30))  # 1h30m of 2h used
    history = CaseHistory(workflow_id="complaint-sim-pause", events=list(case.state.events))

    data = policy.model_dump(mode="json")
    data["severities"]["normal"]["max_pause"] = "1h"
    data["version"] = "max-pause-1h"
    report = simulate([history], Policy.model_validate(data))
    # The pause would have ended by itself at 13:30, so the 2h budget ran out at 15:00: breached.
    assert report.totals.candidate_breaches == 1 and report.totals.actual_breaches == 0
    why = report.changed[0].why
    assert why[0] == (
        "acknowledge: breached under the candidate (done 2026-11-23T16:30:00Z, due "
        "2026-11-23T15:00:00Z under the candidate); met as recorded"
    )
    assert (
        "resumed at 2026-11-23T15:30:00Z: the case was no longer paused under the candidate "
        "(pause refused or ended by the pause budget)"
    ) in why

"""The step machine's guarantees, without a server: every missed deadline is a breach event whatever
the escalation level; the silence clock moves on delivery only; the carried state stays bounded; a
closed case turns new complaints away; an unknown compensation outcome is re-checked under the same
key and blocks new proposals."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from activities.store.projection import fold
from tests.helpers import AGENT, fast_policy, ticket
from workflows.case import SEEN_WINDOW, Case, Rejection
from workflows.models import AcknowledgeInput, CloseInput, CompensateInput, FixInput, FollowUpInput
from workflows.shell.carrying import carried_state

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
WID = "complaint-cust-1:ord-1"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def new_case(**policy: str) -> Case:
    case = Case.open(ticket("robust"), fast_policy(**policy), WID, T0)
    case.add_contact(ticket("robust"), T0)  # the update-with-start that opened it
    return case


def run_timers(case: Case, until: datetime) -> None:
    """What the workflow's timer loop does: tick at every wake-up up to `until`."""
    while (wake := case.next_wakeup()) is not None and wake.at <= until:
        case.tick(wake.at)
        case.state.outbox.clear()


def delivered(case: Case, now: datetime) -> None:
    """The workflow's drain: every queued notification was delivered at `now`."""
    while (effect := case.take_effect()) is not None:
        case.notification_delivered(effect, now)
        case.effect_done(effect)


def test_a_deadline_missed_at_the_top_of_the_ladder_is_a_breach() -> None:
    # Escalated to the top (level 3) during acknowledge; then the fix step slips past its deadline.
    case = new_case(ack="1h", fix="2h", interval="30m")
    run_timers(case, at(150))
    assert case.state.escalation_level == 3
    case.acknowledge(AcknowledgeInput(actor=AGENT), at(150))
    run_timers(case, at(150 + 5 * 60))
    missed = [e for e in case.state.events if e.type == "deadline_missed"]
    projection = fold(WID, case.state.events)
    steps = {s["step"]: s["breached"] for s in projection.steps}
    assert [(e.data["step"], e.data["level"], e.at) for e in missed] == [
        ("acknowledge", 0, at(60)),
        ("fix", 3, at(150 + 120)),
    ]
    # Reports read the projection: both steps are breached, each counted once.
    assert steps == {"acknowledge": True, "fix": True} and projection.case["breaches"] == 2


def test_a_breach_is_recorded_once_per_step_and_again_for_a_reopened_step() -> None:
    case = new_case(ack="1h", fix="1h", compensate="1h", follow_up="1h", interval="30m")
    run_timers(case, at(24 * 60))
    case.acknowledge(AcknowledgeInput(actor=AGENT), at(24 * 60))
    case.record_fix(FixInput(actor=AGENT, description="done"), at(24 * 60 + 1))
    case.compensate(CompensateInput(actor=AGENT, kind="none", reason="n/a"), at(24 * 60 + 2))
    case.compensation_issued(case.state.compensations[0].seq, "instr", at(24 * 60 + 2))
    run_timers(case, at(24 * 60 + 200))  # follow-up asked after 1h, then its answer is late too
    case.complete_follow_up(FollowUpInput(actor=AGENT, outcome="unsatisfied"), at(24 * 60 + 200))
    run_timers(case, at(24 * 60 + 400))  # the reopened fix step slips again
    assert [e.data["step"] for e in case.state.events if e.type == "deadline_missed"] == [
        "acknowledge",
        "follow_up",
        "fix",
    ]
    assert fold(WID, case.state.events).case["breaches"] == 3


def test_an_undelivered_message_does_not_reset_the_silence_clock() -> None:
    case = new_case(ack="1h", fix="30d", max_silence="6h")
    case.state.outbox.clear()
    case.acknowledge(AcknowledgeInput(actor=AGENT), at(10))
    effect = case.take_effect()
    assert effect is not None and effect.notification and effect.notification.audience == "customer"
    case.notification_failed(effect, "SMTP 554", at(11))  # queued, then failed: the customer heard nothing
    case.effect_done(effect)
    run_timers(case, at(6 * 60 + 5))
    updates = [e.at for e in case.state.events if e.type == "customer_updated"]
    assert updates == [at(6 * 60)]  # 6 h after the last message that reached the customer (opening)


def test_a_delivered_message_moves_the_silence_clock_and_failed_updates_retry_spaced() -> None:
    case = new_case(ack="1h", fix="30d", max_silence="6h")
    case.state.outbox.clear()
    case.acknowledge(AcknowledgeInput(actor=AGENT), at(10))
    delivered(case, at(12))
    wake = case.next_wakeup()
    silence = [w for w in [wake] if w and w.summary == "max silence: status update"]
    assert case.state.last_customer_message_at == at(12)
    # Status updates that keep failing are retried hourly, never in a tight loop.
    for _ in range(4):
        wake = case.next_wakeup()
        assert wake is not None
        case.tick(wake.at)
        case.state.outbox.clear()
    updates = [e.at for e in case.state.events if e.type == "customer_updated"]
    assert updates[:3] == [at(12 + 6 * 60), at(12 + 7 * 60), at(12 + 8 * 60)]
    assert silence == [] or silence[0].at == at(12 + 6 * 60)


def test_the_carried_state_stays_bounded_with_10000_contacts() -> None:
    case = new_case(ack="30d", fix="30d")
    for n in range(10_000):
        case.add_contact(ticket("robust", event=f"evt-storm-{n}"), at(1 + n / 1000))
        case.state.outbox.clear()
        if n % 100 == 0:  # the projector stores events as they come
            case.state.projected_seq = case.state.seq
    case.state.projected_seq = case.state.seq
    carried = carried_state(case)
    size = len(json.dumps(carried.model_dump(mode="json")))
    assert case.state.contact_count == 10_001
    assert len(carried.seen_event_digests) == SEEN_WINDOW and carried.events == []
    assert size < 120_000, size
    # Recent redeliveries are still duplicates after the window moved; the count is exact.
    again = case.add_contact(ticket("robust", event="evt-storm-9999"), at(20))
    assert again.duplicate and again.contact_count == 10_001


def test_unprojected_events_travel_with_the_state() -> None:
    case = new_case()
    for n in range(5):
        case.add_contact(ticket("robust", event=f"evt-x-{n}"), at(1))
    case.state.projected_seq = 3
    assert [e.seq for e in carried_state(case).events] == list(range(4, case.state.seq + 1))


def closed_case() -> Case:
    case = new_case(follow_up="1s")
    case.acknowledge(AcknowledgeInput(actor=AGENT), at(1))
    case.record_fix(FixInput(actor=AGENT, description="done"), at(2))
    case.compensate(CompensateInput(actor=AGENT, kind="none", reason="n/a"), at(3))
    case.compensation_issued(case.state.compensations[0].seq, "instr", at(3))
    case.tick(at(4))
    case.complete_follow_up(FollowUpInput(actor=AGENT, outcome="satisfied"), at(5))
    case.close(CloseInput(actor=AGENT, root_cause="other", note="ok"), at(6))
    assert case.closed
    return case


def test_a_closed_case_turns_a_new_complaint_away() -> None:
    case = closed_case()
    new = ticket("robust", event="evt-new-complaint")
    with pytest.raises(Rejection) as turned_away:
        case.check_add_contact(new)
    assert turned_away.value.code == "closed"
    # A redelivery of one of its own events is still a duplicate.
    assert case.add_contact(ticket("robust"), at(7)).duplicate


def at_compensate() -> Case:
    case = new_case(ack="30d", fix="30d", compensate="30d")
    case.acknowledge(AcknowledgeInput(actor=AGENT), at(1))
    case.record_fix(FixInput(actor=AGENT, description="done"), at(2))
    case.state.outbox.clear()
    case.compensate(CompensateInput(actor=AGENT, kind="refund", amount={"amount": "25.00", "currency": "USD"}), at(3))
    return case


def test_an_unknown_outcome_blocks_new_proposals_and_is_rechecked_under_the_same_key() -> None:
    case = at_compensate()
    first = case.take_effect()
    assert first is not None and first.issue is not None
    case.effect_done(first)
    comp = case.state.compensations[0]
    case.compensation_unknown(comp.seq, "payment provider answered 503", at(4))
    assert case.pending_compensation is comp and comp.status == "outcome_unknown"
    with pytest.raises(Rejection, match="unknown outcome"):
        case.check_compensate(
            CompensateInput(actor=AGENT, kind="refund", amount={"amount": "25.00", "currency": "USD"}), at(5)
        )
    case.state.outbox.clear()
    wake = case.next_wakeup()
    assert wake is not None and wake.summary == "recheck compensation outcome" and wake.at == at(4.5)
    case.tick(wake.at)
    again = case.take_effect()
    assert again is not None and again.issue is not None and again.issue.key == first.issue.key
    case.effect_done(again)
    case.compensation_unknown(comp.seq, "still down", at(5))
    assert comp.recheck_at == at(6)  # backing off: 30 s, 60 s, … up to hourly
    case.compensation_issued(comp.seq, "re_123", at(6))
    assert case.state.step == "follow_up" and case.pending_compensation is None
    types = [e.type for e in case.state.events]
    assert types.count("compensation_outcome_unknown") == 1 and types.count("compensation_issued") == 1

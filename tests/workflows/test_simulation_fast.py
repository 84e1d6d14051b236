"""The simulator's fast paths give the same report as the straightforward ones, byte for byte:
`simulate_stored` (rows as read from the event store, JSON decoded in the worker processes, no model per
event) as `simulate` over `CaseHistory` models in one process; and the replay's shortcuts (runs of status
updates fired in one go, recorded inputs not validated again) as the plain step machine, tick by tick."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.simulation import candidate_policy, make_histories
from tests.helpers import AGENT, fast_policy, ticket
from workflows.case import Case
from workflows.models import (
    AcknowledgeInput,
    CompensateInput,
    DomainEvent,
    FixInput,
    PauseInput,
    ResumeInput,
    TicketEvent,
)
from workflows.policy import Policy
from workflows.policy_files import load_policy
from workflows.simulation import CaseHistory, StoredRow, format_simulation, simulate, simulate_stored
from workflows.simulation import replay as sim_replay
from workflows.simulation import report as sim_report


def test_stored_rows_in_worker_processes_give_the_straightforward_report() -> None:
    policy = load_policy(None)
    histories = make_histories(300, policy, seed=5)
    rows: list[StoredRow] = [
        (
            h.workflow_id,
            [
                (
                    e.seq,
                    e.type,
                    e.at,
                    e.actor,
                    json.dumps(DomainEvent.model_validate(e).model_dump(mode="json")["data"]),
                )
                for e in h.events
            ],
        )
        for h in reversed(histories)
    ]
    candidate = candidate_policy(policy)
    straight = simulate(histories, candidate)
    assert straight.totals.cases == 300 and straight.totals.changed > 0
    for fast in (simulate_stored(rows, candidate), simulate_stored(rows, candidate, workers=2, parallel_from=0)):
        assert fast.model_dump_json() == straight.model_dump_json()
        assert format_simulation(fast) == format_simulation(straight)


# ---- the replay's shortcuts against the plain step machine -------------------------------------------
#
# The replay fires runs of max-silence status updates in one go and rebuilds recorded inputs without
# validating them again. `PlainReplay` is the replay as it was: every wakeup a `tick`. Both must leave
# the candidate's machine in the same state, with the same events (less the skipped status updates),
# the same due moments and notes, and so the same report.

T0 = datetime(2026, 11, 23, 8, tzinfo=UTC)  # a Monday (business clocks: 09:00-17:00 New York)


class PlainReplay(sim_replay._Replay):
    def _advance(self, to: datetime) -> None:
        case = self.case
        assert case is not None
        for _ in range(100_000):
            wake = case.next_wakeup()
            if wake is None or wake.at > to:
                return
            case.tick(wake.at)
        raise AssertionError("timers do not settle")


def _not_updates(events: list[DomainEvent]) -> list[dict[str, Any]]:
    return [e.model_dump() for e in events if e.type != "customer_updated"]


def assert_same_as_plain(histories: list[CaseHistory], candidate: Policy, monkeypatch: pytest.MonkeyPatch) -> int:
    """The fast replay equals the plain one case by case and in the report; returns the status updates
    it did not have to build."""
    until = max(e.at for h in histories for e in h.events)
    skipped = 0
    for h in histories:
        fast, plain = (
            sim_replay._Replay(h.workflow_id, h.events, candidate),
            PlainReplay(h.workflow_id, h.events, candidate),
        )
        f, p = fast.run(until), plain.run(until)
        assert fast.case is not None and plain.case is not None
        assert fast.case.state.model_dump(exclude={"events"}) == plain.case.state.model_dump(exclude={"events"})
        assert _not_updates(f.events) == _not_updates(p.events), h.workflow_id
        assert (f.dues, f.notes) == (p.dues, p.notes), h.workflow_id
        skipped += sum(e.type == "customer_updated" for e in p.events) - sum(
            e.type == "customer_updated" for e in f.events
        )
    report = simulate(histories, candidate)
    monkeypatch.setattr(sim_report, "_Replay", PlainReplay)  # where the report's chunks look it up
    plain_report = simulate(histories, candidate)
    monkeypatch.undo()
    assert report.model_dump_json() == plain_report.model_dump_json()
    assert format_simulation(report) == format_simulation(plain_report)
    return skipped


def variant(base: Policy, version: str, *, max_pause: str | None = None, **escalation: str) -> Policy:
    data = base.model_dump(mode="json")
    data["escalation"].update(escalation)
    if max_pause:
        for deadlines in data["severities"].values():
            deadlines["max_pause"] = max_pause
    data["name"], data["version"] = "candidate", version
    return Policy.model_validate(data)


@pytest.mark.parametrize(
    "changes",
    [
        {},  # the bench's candidate: daily updates, business clocks for normal and low
        {"max_silence": "1h"},  # updates between every warning and escalation
        {"max_silence": "7h", "interval": "1h"},
        {"max_silence": "2h", "age_ceiling": "3d"},  # the age ceiling inside runs of updates
        {"max_silence": "5h", "max_pause": "2h"},  # pauses ended by the budget inside runs of updates
    ],
)
def test_fast_replay_equals_the_plain_step_machine_on_bench_cases(
    changes: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = load_policy(None)
    histories = make_histories(120, policy, seed=3)  # open cases followed for weeks, pauses, severity changes
    candidate = variant(candidate_policy(policy), "v-" + "-".join(changes.values()), **changes)
    assert assert_same_as_plain(histories, candidate, monkeypatch) > 100


def recorded_case(n: int, policy: Policy, *, rng: random.Random) -> CaseHistory:
    """A case as the engine's effect-free machine records it (breaches as `deadline_missed`, status
    updates after each max-silence period); the simulator replays it with its own machine."""
    opened = T0 + timedelta(minutes=53 * n, microseconds=rng.randrange(1000))
    wid = f"complaint-rec-{n:03d}"
    case = Case.open(ticket(n, customer=f"c-{n}", severity=rng.choice(["high", "normal"])), policy, wid, opened)
    case.effects = False
    now = opened

    def at(seconds: float) -> datetime:
        nonlocal now
        now += timedelta(seconds=seconds)
        for _ in range(100_000):
            wake = case.next_wakeup()
            if wake is None or wake.at > now:
                break
            case.tick(wake.at)
        return now

    if rng.random() < 0.5:  # a pause that ends a few hundred microseconds off the hour
        case.pause(PauseInput(actor=AGENT, reason="waiting"), at(rng.uniform(60, 1800)))
        case.resume(ResumeInput(actor=AGENT), at(rng.choice([3600.0004, 7200.0002, 1800.0009, 5000.0])))
    if rng.random() < 0.8:
        case.acknowledge(
            AcknowledgeInput(actor=AGENT, message="Sorry."), at(rng.choice([600, 3600, 4 * 3600, 30 * 3600]))
        )
        if rng.random() < 0.5:
            case.record_fix(FixInput(actor=AGENT, description="Resent."), at(rng.uniform(600, 5 * 86400)))
    at(12 * 86400)  # then nobody acts for days: the case is followed until the newest event
    return CaseHistory(workflow_id=wid, events=list(case.state.events))


def test_fast_replay_equals_the_plain_step_machine_on_recorded_cases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorded = fast_policy(ack="1h", fix="1d", interval="1h", max_silence="1d", age_ceiling="30d")
    rng = random.Random(8)
    histories = [recorded_case(n, recorded, rng=rng) for n in range(40)]
    kinds = {e.type for h in histories for e in h.events}
    assert {"deadline_missed", "paused", "fix_recorded", "customer_updated"} <= kinds
    for changes in ({"max_silence": "1h"}, {"max_silence": "30m", "interval": "2h"}, {"max_silence": "3h"}):
        candidate = variant(recorded, "v-" + "-".join(changes.values()), **changes)
        assert assert_same_as_plain(histories, candidate, monkeypatch) > 100


def _edge_case(kind: str, policy: Policy) -> CaseHistory:
    """A recorded case whose replay under `EDGE` has a status update 0.4 ms (within the machine's 1 ms
    epsilon) before another timer, so that one tick fires both: `kind` says which."""
    wid = f"complaint-edge-{kind}"
    case = Case.open(ticket(kind, customer=f"c-{kind}"), policy, wid, T0, effects=False)
    off = timedelta(microseconds=400)
    if kind == "warning":  # a pause of 1 h 0.4 ms: the 50 % warning comes 0.4 ms after an update
        case.pause(PauseInput(actor=AGENT, reason="waiting"), T0 + timedelta(minutes=10))
        case.resume(ResumeInput(actor=AGENT), T0 + timedelta(minutes=70) + off)
    elif kind == "pause-budget":  # paused 0.4 ms after opening: the 2 h pause budget ends 0.4 ms after an update
        case.pause(PauseInput(actor=AGENT, reason="waiting"), T0 + off)
        case.resume(ResumeInput(actor=AGENT), T0 + timedelta(hours=5))
    elif kind == "age-ceiling":  # acknowledged 0.4 ms before the hour: an update 0.4 ms before the ceiling
        case.acknowledge(AcknowledgeInput(actor=AGENT), T0 + timedelta(hours=1) - off)
    elif kind == "follow-up":  # the follow-up request (2 h after compensation) 0.4 ms after an update
        case.acknowledge(AcknowledgeInput(actor=AGENT), T0 + timedelta(minutes=5))
        case.record_fix(FixInput(actor=AGENT, description="Resent."), T0 + timedelta(minutes=20))
        proposal = case.compensate(
            CompensateInput(actor=AGENT, kind="credit", amount={"amount": "20.00", "currency": "USD"}),
            T0 + timedelta(minutes=30),
        )
        case.compensation_issued(proposal.seq, "ref", T0 + timedelta(minutes=40))
        case.pause(PauseInput(actor=AGENT, reason="waiting"), T0 + timedelta(minutes=50))
        case.resume(ResumeInput(actor=AGENT), T0 + timedelta(minutes=50) + off)
    case.add_contact(ticket(kind, customer=f"c-{kind}", event=f"later-{kind}"), T0 + timedelta(days=3))
    return CaseHistory(workflow_id=wid, events=list(case.state.events))


@pytest.mark.parametrize("kind", ["warning", "pause-budget", "age-ceiling", "follow-up"])
def test_an_update_within_the_epsilon_of_another_timer_is_ticked_by_the_machine(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hourly updates, a 2 h acknowledge budget and follow-up delay, hourly escalations, a 2 h pause
    budget, a 2-day age ceiling: most timers fall on an update's moment (one tick fires both) and in
    each case one falls 0.4 ms after it. Such a run is not skipped: the machine ticks it."""
    recorded = fast_policy(ack="2h", fix="3d", follow_up="2h", interval="1h", max_silence="1h", age_ceiling="2d")
    candidate = variant(recorded, "edge", max_pause="2h")
    history = _edge_case(kind, recorded)
    refused = []
    real = sim_replay._only_silence_due

    def spy(case: Case, now: datetime) -> bool:
        answer = real(case, now)
        if not answer:
            refused.append(now)
        return answer

    monkeypatch.setattr(sim_replay, "_only_silence_due", spy)
    assert assert_same_as_plain([history], candidate, monkeypatch) > 0
    assert any(moment.microsecond == 0 or moment.microsecond == 999_600 for moment in refused), refused


def test_recorded_inputs_are_rebuilt_as_validation_would_build_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """The replay rebuilds agents' inputs and tickets with `model_construct`: each equals what validating
    the same values gives (enums, nested models, defaults), so the machine sees the same inputs."""
    checked: list[str] = []

    def validated(method: str) -> Any:
        real = getattr(Case, method)

        def check(self: Case, inp: Any, *args: Any) -> Any:
            assert type(inp).model_validate(inp.model_dump()) == inp, (method, inp)
            checked.append(method)
            return real(self, inp, *args)

        return check

    steps = ["add_contact", "acknowledge", "record_fix", "compensate", "decide_approval", "complete_follow_up"]
    for method in [*steps, "close", "pause", "resume", "change_severity"]:
        monkeypatch.setattr(Case, method, validated(method))
    policy = load_policy(None)
    histories = make_histories(150, policy, seed=4)
    histories.append(_edge_case("follow-up", fast_policy()))
    simulate(histories, candidate_policy(policy))
    assert set(checked) >= {*steps, "close", "pause", "resume", "change_severity"}
    for h in histories:  # the opening ticket too
        opened = sim_replay._ticket(h.events[0], h.events[0].data["severity"])
        assert TicketEvent.model_validate(opened.model_dump()) == opened


def test_a_stored_case_with_control_characters_is_replayed_as_written() -> None:
    """Older intake let control characters through (a NUL in a subject, a note): stored histories are
    read as written, so the simulator replays them (it used to stop with a validation error)."""
    policy = fast_policy(ack="1h")
    case = Case.open(ticket("nul"), policy, "complaint-nul", T0, effects=False)
    case.acknowledge(AcknowledgeInput.model_construct(actor=AGENT, message="sorry\x00"), T0 + timedelta(hours=2))
    events = list(case.state.events)
    events[0] = events[0].model_copy(update={"data": {**events[0].data, "subject": "late\x00"}})
    report = simulate([CaseHistory.model_construct(workflow_id="complaint-nul", events=events)], policy)
    assert report.totals.cases == 1 and report.totals.candidate_breaches == 1  # acknowledged after 2 h of 1 h

"""A hypothesis state machine over the pure policy and step machine: random agents' steps, pauses,
contacts and the passing of time, with the engine's promises checked after every move."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.helpers import fast_policy, figure, ticket
from workflows.case import Case, Rejection
from workflows.models import (
    AcknowledgeInput,
    Actor,
    ApprovalInput,
    CloseInput,
    CompensateInput,
    FixInput,
    FollowUpInput,
    PauseInput,
    ResumeInput,
)
from workflows.policy import Policy, Step

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
ACTORS = [
    Actor(id="alice", role="agent"),
    Actor(id="bob", role="agent"),
    Actor(id="lena", role="team-lead"),
    Actor(id="max", role="manager"),
]
ALLOWED = {
    (Step.ACKNOWLEDGE, Step.FIX),
    (Step.FIX, Step.COMPENSATE),
    (Step.COMPENSATE, Step.FOLLOW_UP),
    (Step.FOLLOW_UP, Step.CLOSE),
    (Step.FOLLOW_UP, Step.FIX),
    (Step.CLOSE, Step.CLOSED),
}
CAP = Decimal("300.00")


def policy() -> Policy:
    data = fast_policy(
        ack="1h",
        fix="2h",
        compensate="2h",
        follow_up="30m",
        close="2h",
        interval="30m",
        max_silence="6h",
        age_ceiling="5d",
    ).model_dump(mode="json")
    data["compensation"]["customer_cap"] = {"USD": str(CAP)}
    return Policy.model_validate(data)


class StepMachine(RuleBasedStateMachine):
    @initialize()
    def open_case(self) -> None:
        self.now = T0
        self.case = Case.open(ticket("stateful"), policy(), "complaint-cust-1:ord-1", T0)
        self.steps = [Step.ACKNOWLEDGE]
        self.rejections = 0
        self.checks = 0

    # ---- time, through the same wakeups the workflow's timer loop uses

    @rule(minutes=st.integers(1, 400))
    def time_passes(self, minutes: int) -> None:
        target = self.now + timedelta(minutes=minutes)
        while (wake := self.case.next_wakeup()) is not None and wake.at <= target:
            paused_before = self.case.state.paused
            seq = self.case.state.seq
            self.case.tick(wake.at)
            self.now = max(self.now, wake.at)
            if paused_before:
                # Pause never counts: while paused only wall-clock rules (silence, age ceiling) may fire.
                assert {e.type for e in self.case.state.events[seq:]} <= {"customer_updated", "escalated"}
                assert all(
                    e.data.get("reason") == "age ceiling reached"
                    for e in self.case.state.events[seq:]
                    if e.type == "escalated"
                )
            self._drain()
        self.now = target

    def _drain(self) -> None:
        """Play the outbox as the workflow does: notifications vanish, compensation gets issued."""
        while (effect := self.case.take_effect()) is not None:
            if effect.issue is not None:
                self.case.compensation_issued(effect.compensation_seq, f"ref-{effect.key}", self.now)
            self.case.effect_done(effect)

    def _attempt(self, check, apply) -> None:
        seq_before = self.case.state.seq
        step_before = self.case.state.step
        try:
            check()
        except Rejection:
            self.rejections += 1
            assert self.case.state.seq == seq_before  # a rejected step changes nothing
            return
        apply()
        self.checks += 1
        self._drain()
        if self.case.state.step != step_before:
            self.steps.append(self.case.state.step)

    # ---- agents' steps, valid or not

    @rule(actor=st.sampled_from(ACTORS))
    def acknowledge(self, actor: Actor) -> None:
        inp = AcknowledgeInput(actor=actor, message="sorry")
        self._attempt(lambda: self.case.check_acknowledge(inp), lambda: self.case.acknowledge(inp, self.now))

    @rule(actor=st.sampled_from(ACTORS))
    def record_fix(self, actor: Actor) -> None:
        inp = FixInput(actor=actor, description="fixed")
        self._attempt(lambda: self.case.check_record_fix(inp), lambda: self.case.record_fix(inp, self.now))

    @rule(
        actor=st.sampled_from(ACTORS),
        cents=st.integers(1, 200_000),
        kind=st.sampled_from(["refund", "credit", "coupon"]),
    )
    def compensate(self, actor: Actor, cents: int, kind: str) -> None:
        inp = CompensateInput(actor=actor, kind=kind, amount={"amount": str(Decimal(cents) / 100), "currency": "USD"})
        self._attempt(lambda: self.case.check_compensate(inp, self.now), lambda: self.case.compensate(inp, self.now))

    @rule(actor=st.sampled_from(ACTORS), approve=st.booleans())
    def approve(self, actor: Actor, approve: bool) -> None:
        inp = ApprovalInput(actor=actor, approve=approve)
        self._attempt(lambda: self.case.check_approval(inp), lambda: self.case.decide_approval(inp, self.now))

    @rule(outcome=st.sampled_from(["satisfied", "unsatisfied", "no_response"]))
    def follow_up(self, outcome: str) -> None:
        inp = FollowUpInput(actor=ACTORS[0], outcome=outcome)
        self._attempt(lambda: self.case.check_follow_up(inp), lambda: self.case.complete_follow_up(inp, self.now))

    @rule(root_cause=st.sampled_from(["other", "gremlins"]))
    def close(self, root_cause: str) -> None:
        inp = CloseInput(actor=ACTORS[0], root_cause=root_cause, note="done")
        self._attempt(lambda: self.case.check_close(inp), lambda: self.case.close(inp, self.now))

    @rule()
    def pause(self) -> None:
        inp = PauseInput(actor=ACTORS[0], reason="waiting")
        self._attempt(lambda: self.case.check_pause(inp), lambda: self.case.pause(inp, self.now))

    @rule()
    def resume(self) -> None:
        inp = ResumeInput(actor=ACTORS[0])
        self._attempt(lambda: self.case.check_resume(inp), lambda: self.case.resume(inp, self.now))

    @rule(n=st.integers(0, 3))
    def contact(self, n: int) -> None:
        event = ticket(f"c{n}")
        self._attempt(lambda: self.case.check_add_contact(event), lambda: self.case.add_contact(event, self.now))

    # ---- the promises

    @invariant()
    def steps_only_in_order(self) -> None:
        for before, after in itertools.pairwise(self.steps):
            assert (before, after) in ALLOWED, self.steps

    @invariant()
    def compensation_within_authority_and_cap(self) -> None:
        p = self.case.policy
        issued = [c for c in self.case.state.compensations if c.status == "issued"]
        assert sum((c.amount.amount for c in issued if c.amount), Decimal(0)) <= CAP
        for c in issued:
            assert c.amount is not None
            if c.approved_by is None:
                assert c.amount.amount <= p.limit_of(c.proposed_by.role, "USD")
            else:
                assert c.approved_by.id != c.proposed_by.id
                assert c.amount.amount <= (p.approval_limit_of(c.approved_by.role, "USD") or Decimal(-1))

    @invariant()
    def escalation_exactly_when_a_deadline_is_missed(self) -> None:
        s = self.case.state
        # A "deadline missed" escalation happens at most once per step round, never before the step's
        # budget is spent, and (unless the ladder's top was already reached) always once it is.
        if s.step is Step.CLOSED or (s.step is Step.FOLLOW_UP and not s.clock.follow_up_asked):
            return
        spent = self.case._consumed(self.now)
        missed = s.clock.escalations > 0
        if missed:
            assert spent + 0.01 >= s.clock.budget
        elif (
            not s.paused
            and spent >= s.clock.budget + 1
            and s.escalation_level < len(self.case.policy.escalation.ladder)
        ):
            raise AssertionError(f"budget {s.clock.budget}s spent ({spent}s) without escalating")

    @invariant()
    def sequence_is_gapless(self) -> None:
        assert [e.seq for e in self.case.state.events] == list(range(1, self.case.state.seq + 1))


StepMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, suppress_health_check=list(HealthCheck)
)
test_step_machine_keeps_its_promises = StepMachine.TestCase


STATS = {"runs": 0, "steps_applied": 0, "steps_rejected": 0, "violations": 0}
_teardown = StepMachine.teardown


def _count(self: StepMachine) -> None:
    STATS["runs"] += 1
    STATS["steps_applied"] += getattr(self, "checks", 0)
    STATS["steps_rejected"] += getattr(self, "rejections", 0)
    _teardown(self)


StepMachine.teardown = _count


def test_the_state_machine_figures() -> None:
    """Runs after the state machine (file order) and states what it proved."""
    assert STATS["runs"] >= 150
    figure(
        f"\nstateful: {STATS['runs']} runs, {STATS['steps_applied']} steps applied, "
        f"{STATS['steps_rejected']} rejected without a change, violations found = 0"
    )

"""Time: the step clock (how much of the step's budget is spent, when it is due), the moments the
workflow must wake for, and what happens when they come: warnings, the deadline, the escalation
ladder, the follow-up question, the age ceiling, max-silence status updates and re-checks of
compensation whose outcome is unknown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from workflows.case.core import CaseCore
from workflows.case.state import _EPSILON, SILENCE_RETRY, StepClock
from workflows.models import ENGINE, Deadlines
from workflows.policy import Step


@dataclass(frozen=True)
class Wakeup:
    at: datetime
    summary: str


class ClockMixin(CaseCore):
    # ---- queries ---------------------------------------------------------------------------

    def _deadlines(self, now: datetime) -> Deadlines:
        s = self.state
        clock_kind = self.policy.deadlines(s.severity).clock
        if self.closed:
            return Deadlines(
                step=s.step,
                due_at=None,
                remaining_seconds=None,
                clock=clock_kind,
                next_escalation_at=None,
                next_warning_at=None,
            )
        warning = self._next_warning()
        return Deadlines(
            step=s.step,
            due_at=self._due_at(s.clock.budget),
            remaining_seconds=round(s.clock.budget - self._consumed(now), 3),
            clock=clock_kind,
            next_escalation_at=self._due_at(self._next_escalation_threshold())
            if self._ladder_active() and self._can_climb()
            else None,
            next_warning_at=self._due_at(warning * s.clock.budget) if warning is not None else None,
            follow_up_asked=s.clock.follow_up_asked,
        )

    def due_at(self) -> datetime | None:
        """When the current step is due; None while paused or closed."""
        return None if self.closed else self._due_at(self.state.clock.budget)

    def follow_up_answer_due(self) -> datetime | None:
        """Before the follow-up question goes out: when the customer's answer will be due, the question
        asked on time (the tick asks at the moment it was due, so this is the deadline after asking)."""
        s = self.state
        if s.step is not Step.FOLLOW_UP or s.clock.follow_up_asked:
            return None
        ask = self._due_at(s.clock.budget)
        return None if ask is None else self._clock().add(ask, s.clock.budget)

    def next_wakeup(self) -> Wakeup | None:
        """The next moment a timer must wake the workflow, and why (the timer's summary)."""
        s = self.state
        if self.closed:
            return None
        escalation = self.policy.escalation
        step = s.step.value
        candidates: list[Wakeup] = []
        if s.paused and (left := self._pause_left()) is not None:
            assert s.pause_counted_from is not None
            candidates.append(
                Wakeup(
                    at=self._clock().add(s.pause_counted_from, max(left, 0.0)), summary="pause budget used up: resume"
                )
            )
        if not s.paused:
            if self._ladder_active():
                warning = self._next_warning()
                if warning is not None:
                    candidates.append(
                        Wakeup(
                            at=self._due_at(warning * s.clock.budget), summary=f"{step}: {int(warning * 100)}% warning"
                        )
                    )
                if self._can_climb():
                    role = escalation.role(s.escalation_level + 1)
                    candidates.append(
                        Wakeup(
                            at=self._due_at(self._next_escalation_threshold()), summary=f"{step}: escalate to {role}"
                        )
                    )
                if not s.clock.deadline_missed:
                    # At the top of the ladder no escalation timer marks the deadline: this one does.
                    candidates.append(Wakeup(at=self._due_at(s.clock.budget), summary=f"{step}: deadline"))
            elif s.step is Step.FOLLOW_UP:
                candidates.append(Wakeup(at=self._due_at(s.clock.budget), summary="follow-up: ask the customer"))
        if not s.age_ceiling_reached:
            candidates.append(Wakeup(at=s.opened_at + escalation.age_ceiling, summary="age ceiling"))
        candidates.append(Wakeup(at=self._silence_due(), summary="max silence: status update"))
        for comp in s.compensations:
            if comp.status == "outcome_unknown" and comp.recheck_at is not None:
                candidates.append(Wakeup(at=comp.recheck_at, summary="recheck compensation outcome"))
        if s.offer is not None and s.offer.status == "open":
            candidates.append(Wakeup(at=s.offer.choose_by, summary="offer: the customer's choice deadline"))
        return min(candidates, key=lambda w: w.at)

    def _silence_due(self) -> datetime:
        s = self.state
        due = s.last_customer_message_at + self.policy.escalation.max_silence
        if s.last_silence_update_at is not None:
            due = max(due, s.last_silence_update_at + min(self.policy.escalation.max_silence, SILENCE_RETRY))
        return due

    # ---- time ------------------------------------------------------------------------------

    def tick(self, now: datetime) -> None:
        """Fire everything whose time has come: warnings, escalations, follow-up, ceiling, silence."""
        s = self.state
        if self.closed:
            return
        escalation = self.policy.escalation
        if s.paused and (left := self._pause_left(now)) is not None and left <= _EPSILON:
            self._pause_budget_used_up(now)
        if not s.paused and s.step is Step.FOLLOW_UP and not s.clock.follow_up_asked:
            if self._consumed(now) + _EPSILON >= s.clock.budget:
                self._ask_follow_up(now)
        self._offer_deadline(now)
        if not s.paused and self._ladder_active():
            consumed = self._consumed(now) + _EPSILON
            if consumed >= s.clock.budget:
                s.clock.fired_warnings = list(escalation.warnings)
            for fraction in escalation.warnings:
                if fraction not in s.clock.fired_warnings and consumed >= fraction * s.clock.budget:
                    s.clock.fired_warnings.append(fraction)
                    due = self._due_at(s.clock.budget)
                    assert due is not None
                    event = self._event(
                        "warning", now, ENGINE, step=s.step.value, fraction=fraction, due_at=due.isoformat()
                    )
                    self._notify(
                        event,
                        "internal",
                        self._owner_or_role(),
                        "warning",
                        step=s.step.value,
                        percent=str(int(fraction * 100)),
                        due=self._format(due),
                    )
            if consumed >= s.clock.budget and not s.clock.deadline_missed:
                # A breach is its own event, whatever the escalation level: reports count these.
                s.clock.deadline_missed = True
                due = self._due_at(s.clock.budget)
                self._event(
                    "deadline_missed",
                    now,
                    ENGINE,
                    step=s.step.value,
                    severity=s.severity.value,
                    due_at=due.isoformat() if due else None,
                    level=s.escalation_level,
                )
            while self._can_climb() and consumed >= self._next_escalation_threshold():
                s.clock.escalations += 1
                reason = "deadline missed" if s.clock.escalations == 1 else "step still open"
                self._escalate(now, s.escalation_level + 1, reason)
        if not s.age_ceiling_reached and now + timedelta(seconds=_EPSILON) >= s.opened_at + escalation.age_ceiling:
            s.age_ceiling_reached = True
            if s.escalation_level < len(escalation.ladder):
                self._escalate(now, len(escalation.ladder), "age ceiling reached")
        if now + timedelta(seconds=_EPSILON) >= self._silence_due():
            s.last_silence_update_at = now
            event = self._event("customer_updated", now, ENGINE, step=s.step.value, reason="max silence")
            self._notify_customer(event, "status_update", step=s.step.value.replace("_", " "))
        for comp in s.compensations:
            if (
                comp.status == "outcome_unknown"
                and comp.recheck_at is not None
                and now + timedelta(seconds=_EPSILON) >= comp.recheck_at
            ):
                comp.recheck_at = None  # the same key again: the activity looks the payment up first
                self._issue(comp, comp.seq)

    def ask_follow_up(self, now: datetime) -> None:
        """Ask the customer now. For the policy simulator: an answer recorded before the candidate
        policy would have asked (the workflow asks only when the follow-up delay has passed)."""
        if self.state.step is Step.FOLLOW_UP and not self.state.clock.follow_up_asked:
            self._ask_follow_up(now)

    def _ask_follow_up(self, now: datetime) -> None:
        s = self.state
        event = self._event("follow_up_asked", now, ENGINE)
        s.clock = StepClock(budget=s.clock.budget, segment_start=now, follow_up_asked=True)
        self._notify_customer(event, "follow_up_request")

    # ---- escalation ------------------------------------------------------------------------

    def _escalate(self, now: datetime, level: int, reason: str) -> None:
        s = self.state
        top = len(self.policy.escalation.ladder)
        level = min(level, top)
        if level <= s.escalation_level:
            return
        s.escalation_level = level
        role = self.policy.escalation.role(level)
        event = self._event("escalated", now, ENGINE, step=s.step.value, level=level, role=role, reason=reason)
        self._notify(
            event,
            "internal",
            role or "",
            "escalation",
            level=str(level),
            step=s.step.value,
            reason=reason,
            owner=s.assignee or "nobody (unassigned)",
        )

    def _ladder_active(self) -> bool:
        s = self.state
        if s.step is Step.CLOSED:
            return False
        if s.offer is not None and s.offer.status == "open":
            return False  # the customer is choosing: their deadline is the offer's, not the agent's
        return s.step is not Step.FOLLOW_UP or s.clock.follow_up_asked

    def _can_climb(self) -> bool:
        return self.state.escalation_level < len(self.policy.escalation.ladder)

    def _next_warning(self) -> float | None:
        c = self.state.clock
        if not self._ladder_active():
            return None
        pending = [f for f in self.policy.escalation.warnings if f not in c.fired_warnings]
        return min(pending) if pending else None

    def _next_escalation_threshold(self) -> float:
        c = self.state.clock
        return c.budget + c.escalations * self.policy.escalation.interval.total_seconds()

    # ---- the step clock --------------------------------------------------------------------

    def _settle(self, now: datetime) -> None:
        """Fold the running segment into `consumed`, so the budget can change or stop."""
        c = self.state.clock
        if c.segment_start is not None:
            c.consumed += self._clock().elapsed(c.segment_start, now)
            c.segment_start = now

    def _consumed(self, now: datetime) -> float:
        c = self.state.clock
        running = self._clock().elapsed(c.segment_start, now) if c.segment_start else 0.0
        return c.consumed + running

    def _due_at(self, threshold: float) -> datetime | None:
        """When the step's spent budget reaches `threshold`; None while the clock is stopped."""
        c = self.state.clock
        if c.segment_start is None:
            return None
        if threshold <= c.consumed:
            return c.segment_start
        return self._clock().add(c.segment_start, threshold - c.consumed)

"""Pausing a case (waiting on the customer): the step clock stops, and the pause is counted against
the severity's pause budget; when that is used up, the case resumes by itself."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from workflows.case.core import CaseCore, Rejection
from workflows.case.state import _EPSILON
from workflows.durations import format_duration
from workflows.models import ENGINE, Actor, DomainEvent, PauseInput, ResumeInput


class PauseMixin(CaseCore):
    def check_pause(self, inp: PauseInput) -> None:
        self._require_open("pause")
        if self.state.paused:
            raise Rejection("conflict", f"the case is already paused ({self.state.pause_reason})")
        left = self._pause_left()
        if left is not None and left <= _EPSILON:
            limit = self._max_pause()
            assert limit is not None
            raise Rejection(
                "conflict",
                f"cannot pause: the pause budget is used up (paused "
                f"{format_duration(timedelta(seconds=round(self.state.pause_used)))} of "
                f"{format_duration(limit)} allowed at severity {self.state.severity.value}, "
                f"counted in {self._clock_kind()} time)",
            )

    def pause(self, inp: PauseInput, now: datetime) -> None:
        self.check_pause(inp)
        s = self.state
        self._settle(now)
        s.clock.segment_start, s.paused, s.pause_reason, s.paused_at = None, True, inp.reason, now
        s.pause_counted_from = now
        left = self._pause_left()
        self._event(
            "paused",
            now,
            inp.actor,
            step=s.step.value,
            reason=inp.reason,
            remaining_seconds=round(s.clock.budget - s.clock.consumed, 3),
            **({"pause_left_seconds": round(left, 3)} if left is not None else {}),
        )

    def check_resume(self, inp: ResumeInput) -> None:
        self._require_open("resume")
        if not self.state.paused:
            raise Rejection("conflict", "the case is not paused")

    def resume(self, inp: ResumeInput, now: datetime) -> None:
        self.check_resume(inp)
        self._end_pause(now, inp.actor, inp.note)

    def _end_pause(self, now: datetime, actor: Actor, note: str, **extra: Any) -> DomainEvent:
        s = self.state
        paused_for = (now - s.paused_at).total_seconds() if s.paused_at else 0.0
        self._settle_pause(now)
        s.clock.segment_start, s.paused, s.pause_reason, s.paused_at = now, False, None, None
        s.pause_counted_from = None
        due = self._due_at(s.clock.budget)
        return self._event(
            "resumed",
            now,
            actor,
            step=s.step.value,
            paused_seconds=round(paused_for, 3),
            pause_used_seconds=round(s.pause_used, 3),
            due_at=due.isoformat() if due else None,
            note=note,
            **extra,
        )

    def _pause_budget_used_up(self, now: datetime) -> None:
        limit = self._max_pause()
        assert limit is not None
        note = f"pause budget of {format_duration(limit)} used up"
        event = self._end_pause(now, ENGINE, note, reason="pause budget used up")
        due = self._due_at(self.state.clock.budget)
        self._notify(
            event,
            "internal",
            self.policy.assignee_role,
            "pause_ended",
            budget=format_duration(limit),
            step=self.state.step.value,
            due=self._format(due) if due else "",
        )

    # ---- the pause budget ------------------------------------------------------------------

    def _max_pause(self) -> timedelta | None:
        return self.policy.deadlines(self.state.severity).max_pause

    def _pause_used(self, now: datetime | None = None) -> float:
        s = self.state
        if now is None or s.pause_counted_from is None:
            return s.pause_used
        return s.pause_used + self._clock().elapsed(s.pause_counted_from, now)

    def _pause_left(self, now: datetime | None = None) -> float | None:
        """Pause budget left (severity clock seconds) at `now` (default: up to the last fold)."""
        limit = self._max_pause()
        if limit is None:
            return None
        return limit.total_seconds() - self._pause_used(now)

    def _settle_pause(self, now: datetime) -> None:
        """Fold the running pause into `pause_used`, so the clock it is counted in can change."""
        s = self.state
        if s.paused and s.pause_counted_from is not None:
            s.pause_used = self._pause_used(now)
            s.pause_counted_from = now

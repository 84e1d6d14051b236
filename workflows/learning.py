"""Repeat-mistake alerts (`[[learning.alerts]]` in the policy): when one root cause closes `count`
cases within one window of `within`, its owner hears about it once for that window.

Windows are consecutive spans of `within` counted from 1970-01-01 00:00 UTC (a `7d` window starts
on a Thursday at midnight UTC, a `1d` one at midnight UTC). A close belongs to the window of its
own `closed` event's time, not of when it reached the watch: a close projected late still counts
where it happened, and a window's start, hence the alert's key, is the same whoever computes it.
Pure data and arithmetic: safe in workflow code.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workflows.durations import Duration

DEFAULT_CAUSE = "default"
"""The entry a cause without its own falls back to."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class AlertRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cause: str = Field(min_length=1)
    count: int = Field(ge=1)
    """Closes with this cause within one window that raise the alert."""
    within: Duration
    """The window's length."""

    def window_start(self, at: datetime) -> datetime:
        """The start of the window `at` falls in."""
        spans = (at - _EPOCH) // self.within
        return _EPOCH + spans * self.within

    def window_end(self, start: datetime) -> datetime:
        return start + self.within


class LearningPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    alerts: list[AlertRule] = []

    @model_validator(mode="after")
    def _one_entry_per_cause(self) -> LearningPolicy:
        causes = [rule.cause for rule in self.alerts]
        doubled = sorted({c for c in causes if causes.count(c) > 1})
        if doubled:
            raise ValueError(f"alerts: one entry per cause ({', '.join(doubled)} given twice)")
        return self

    def rule_for(self, cause: str) -> AlertRule | None:
        """The cause's own entry, else the `default` one (as this cause's rule), else None."""
        by_cause = {rule.cause: rule for rule in self.alerts}
        rule = by_cause.get(cause)
        if rule is not None:
            return rule
        fallback = by_cause.get(DEFAULT_CAUSE)
        return fallback.model_copy(update={"cause": cause}) if fallback is not None else None


def watch_id(cause: str) -> str:
    """The workflow id of a cause's watch."""
    return f"cause-watch-{cause}"


def alert_key(cause: str, window_start: datetime) -> str:
    """The delivery log's key of a cause's alert for one window (one alert per window, ever)."""
    return f"{watch_id(cause)}:{window_start.astimezone(UTC).isoformat()}"


def trend_text(count: int, previous: int) -> str:
    if previous == 0:
        return f"{count} this window, none in the previous one"
    change = (count - previous) / previous
    direction = "up" if change > 0 else "down" if change < 0 else "flat"
    return f"{count} this window vs {previous} in the previous one ({direction} {abs(change):.0%})"


def span_text(start: datetime, length: timedelta) -> str:
    end = start + length
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"


# ---- the watch's inputs and its activity (referred to by name: no I/O library enters the sandbox) ----

CAUSE_WATCH = "CauseWatchWorkflow"
CASE_CLOSED = "case_closed"
"""The watch's signal: one case closed with its cause (sent with signal-with-start)."""
PLAN_CAUSE_ALERT = "plan_cause_alert"


class CaseClosed(BaseModel):
    case_id: str
    workflow_id: str
    closed_at: datetime
    """The `closed` event's time: picks the window."""
    rule: AlertRule
    """The rule as the projector's policy has it now (a changed policy applies from the next close)."""


class WindowCount(BaseModel):
    start: datetime
    cases: list[str] = []
    """Case ids counted in this window, in arrival order: a close signalled twice counts once."""
    alerted: bool = False


class WatchState(BaseModel):
    """A cause watch's whole state, carried across continue-as-new."""

    cause: str
    rule: AlertRule | None = None
    current: WindowCount | None = None
    previous: WindowCount | None = None
    pending: list[CaseClosed] = []
    """Closes received and not yet counted (carried so none is lost at continue-as-new)."""


class CauseAlert(BaseModel):
    cause: str
    window_start: datetime
    within: Duration
    cases: list[str]
    previous: int
    """Closes with this cause in the window before."""
    at: datetime
    """When the threshold was crossed: picks the on-call person."""

    @property
    def key(self) -> str:
        return alert_key(self.cause, self.window_start)

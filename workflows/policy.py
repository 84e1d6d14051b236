"""The recovery policy: an ops-owned TOML file, validated with pydantic, pure and deterministic.

A policy is snapshotted into each workflow at start, so nothing here may read files or clocks:
policy files are read by `workflows.policy_files`, which callers run outside workflows.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from workflows.calendars import WEEKDAYS, Calendar, CalendarArithmetic, Window, check_zone, from_micros, to_micros
from workflows.durations import Duration
from workflows.learning import LearningPolicy
from workflows.money import Amount, check_places_on_entry, parse_currency
from workflows.templates import Overrides, check_override


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        return [Severity.LOW, Severity.NORMAL, Severity.HIGH, Severity.CRITICAL].index(self)

    def raised(self) -> Severity:
        """One level more urgent; critical stays critical."""
        order = [Severity.LOW, Severity.NORMAL, Severity.HIGH, Severity.CRITICAL]
        return order[min(self.rank + 1, len(order) - 1)]


class Step(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    FIX = "fix"
    COMPENSATE = "compensate"
    FOLLOW_UP = "follow_up"
    CLOSE = "close"
    CLOSED = "closed"


STEP_ORDER: tuple[Step, ...] = (Step.ACKNOWLEDGE, Step.FIX, Step.COMPENSATE, Step.FOLLOW_UP, Step.CLOSE)
"""The recovery steps in the order a case runs them; after the last one the case is CLOSED.
The step machine, the read-model projection and the reports all take the order from here."""


def next_step(step: Step) -> Step:
    """The step after `step`; CLOSED after the last one (and for CLOSED itself)."""
    if step not in STEP_ORDER or step is STEP_ORDER[-1]:
        return Step.CLOSED
    return STEP_ORDER[STEP_ORDER.index(step) + 1]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepDeadlines(_Strict):
    """Per severity: how long each step may take. `follow_up` is the delay after compensation
    before the customer is asked; the agent then has the same span again to record the answer."""

    clock: Literal["wall", "business"] = "wall"
    calendar: str | None = None
    """A calendar of `[calendars]` (implies the business clock); None: the `[calendar]` short form."""
    acknowledge: Duration
    fix: Duration
    compensate: Duration
    follow_up: Duration
    close: Duration
    max_pause: Duration | None = None
    """Total pause a case may take (in this severity's clock); None: no limit."""

    @model_validator(mode="before")
    @classmethod
    def _calendar_implies_business(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("calendar") is not None:
            if data.get("clock", "business") == "wall":
                raise ValueError(
                    'calendar and clock = "wall" contradict each other: a calendar counts '
                    "only its working time (drop one of them)"
                )
            data = {**data, "clock": "business"}
        return data

    def budget(self, step: Step) -> timedelta:
        budget: timedelta = getattr(self, step.value)
        return budget


_WEEKDAYS = WEEKDAYS


class BusinessCalendar(_Strict):
    """The short calendar form (`[calendar]`): one working window shared by all working days."""

    time_zone: str = "UTC"
    working_hours: tuple[time, time] = (time(9), time(17))
    working_days: list[str] = ["mon", "tue", "wed", "thu", "fri"]
    holidays: list[date] = []

    _full: Calendar | None = PrivateAttr(default=None)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return check_zone(value)

    @field_validator("working_hours", mode="before")
    @classmethod
    def _hours(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)) and len(value) == 2:
            return tuple(time.fromisoformat(v) if isinstance(v, str) else v for v in value)
        raise ValueError('working_hours must be a pair such as ["09:00", "17:00"]')

    @field_validator("working_days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        days = [d.lower()[:3] for d in value]
        unknown = [d for d in days if d not in _WEEKDAYS]
        if unknown or not days:
            raise ValueError(f"working_days must name days among {', '.join(_WEEKDAYS)}")
        return days

    @model_validator(mode="after")
    def _window(self) -> BusinessCalendar:
        if self.working_hours[0] >= self.working_hours[1]:
            raise ValueError("working_hours must start before they end")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return self.full.zone

    @property
    def full(self) -> Calendar:
        """The same calendar in the full form, which does the arithmetic."""
        if self._full is None:
            start, end = (t.hour * 60 + t.minute for t in self.working_hours)
            window = Window(start=start, end=end)
            self._full = Calendar(
                time_zone=self.time_zone, week={d: [window] for d in self.working_days}, holidays=self.holidays
            )
        return self._full

    def add(self, start: datetime, seconds: float) -> datetime:
        """The moment when `seconds` of working time have passed after `start`."""
        return self.full.add(start, seconds)

    def elapsed(self, start: datetime, end: datetime) -> float:
        """Working seconds between `start` and `end`."""
        return self.full.elapsed(start, end)


class Clock:
    """Adds budgets to moments and measures spent budget, in wall or business time."""

    def __init__(self, calendar: BusinessCalendar | Calendar | None):
        self._calendar = calendar.full if isinstance(calendar, BusinessCalendar) else calendar
        self._arithmetic: CalendarArithmetic | None = None
        self._added: dict[tuple[datetime, float], datetime] = {}
        """Business `add` results: the step machine asks for the same due moments again and again."""

    def _business(self, at: int) -> CalendarArithmetic:
        arithmetic = self._arithmetic
        if arithmetic is None or at < arithmetic.covers_from:
            assert self._calendar is not None
            arithmetic = self._arithmetic = self._calendar.arithmetic(at)
        return arithmetic

    def add(self, start: datetime, seconds: float) -> datetime:
        if self._calendar is None:
            if start.tzinfo is None:
                return start + timedelta(seconds=seconds)
            # Aware arithmetic in one zone is wall-clock arithmetic (a DST day has 24 "hours" but
            # 23 or 25 real ones), so add in UTC and hand back the caller's zone.
            return (start.astimezone(timezone.utc) + timedelta(seconds=seconds)).astimezone(start.tzinfo)
        key = (start, seconds)
        found = self._added.get(key)
        if found is not None:
            return found
        at = to_micros(start)
        if seconds <= 0:
            return from_micros(at)
        if len(self._added) >= 4096:
            self._added.clear()
        found = self._added[key] = from_micros(self._business(at).add(at, round(seconds * 1_000_000)))
        return found

    def elapsed(self, start: datetime, end: datetime) -> float:
        if self._calendar is None:
            if start.tzinfo is not None and end.tzinfo is not None:
                start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
            return max(0.0, (end - start).total_seconds())
        a, b = to_micros(start), to_micros(end)
        if b <= a:
            return 0.0
        arithmetic = self._business(a)
        return (arithmetic.cumulative(b) - arithmetic.cumulative(a)) / 1_000_000


class EscalationPolicy(_Strict):
    warnings: list[float] = [0.5, 0.75]
    interval: Duration = timedelta(hours=1)
    ladder: list[str] = ["team-lead", "manager", "executive"]
    age_ceiling: Duration = timedelta(days=30)
    max_silence: Duration = timedelta(hours=24)

    @field_validator("warnings")
    @classmethod
    def _fractions(cls, value: list[float]) -> list[float]:
        if any(not 0 < f < 1 for f in value):
            raise ValueError("warnings are fractions of a step's budget, each between 0 and 1")
        return sorted(set(value))

    @field_validator("ladder")
    @classmethod
    def _ladder(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("the ladder needs at least one role")
        return value

    def role(self, level: int) -> str | None:
        return self.ladder[min(level, len(self.ladder)) - 1] if level > 0 else None


def _money_map(value: Any) -> Any:
    if not isinstance(value, dict):
        raise ValueError('write amounts per currency, e.g. { USD = "50.00" }')
    return {parse_currency(k): v for k, v in value.items()}


def _money_map_places(value: dict[str, Decimal]) -> dict[str, Decimal]:
    for currency, amount in value.items():
        check_places_on_entry(amount, currency)
    return value


MoneyMap = Annotated[dict[str, Amount], BeforeValidator(_money_map), AfterValidator(_money_map_places)]


class RolePolicy(_Strict):
    limit: MoneyMap = {}
    """Compensation this role may grant without approval, per currency."""
    approves_up_to: MoneyMap = {}
    """Proposals by others this role may approve, per currency; empty means it may not approve."""


class CompensationPolicy(_Strict):
    customer_cap: MoneyMap = {}
    cap_window: Duration = timedelta(days=90)


class OfferPolicy(_Strict):
    """Remedies the customer chooses (`offer`): how long they have by default, at most, and what
    happens when nothing is picked by the deadline: issue the default option, or tell the owner."""

    choice_window: Duration = timedelta(hours=72)
    max_choice_window: Duration = timedelta(days=14)
    on_expiry: Literal["issue_default", "notify_owner"] = "issue_default"


class FollowUpPolicy(_Strict):
    """The customer's own score (1-5) on the case page: at or above `satisfied_at` completes the
    follow-up satisfied, at or below `unsatisfied_at` reopens the case; between, the owner decides."""

    satisfied_at: int = Field(4, ge=2, le=5)
    unsatisfied_at: int = Field(2, ge=1, le=4)

    @model_validator(mode="after")
    def _ordered(self) -> FollowUpPolicy:
        if self.unsatisfied_at >= self.satisfied_at:
            raise ValueError(f"unsatisfied_at ({self.unsatisfied_at}) must be below satisfied_at ({self.satisfied_at})")
        return self


class RepeatContacts(_Strict):
    raise_after: int = Field(3, ge=2)


class TriagePolicy(_Strict):
    """Anomaly rules applied when a case opens: a match raises severity and is named in the timeline."""

    shipping_to_total_ratio: Annotated[Decimal, Field(gt=0)] | None = Decimal(5)
    """A shipping charge this many times the order total is an anomaly."""
    charge_threshold: MoneyMap = {}
    """A single order charge (total or shipping) above this amount is an anomaly."""
    anomaly_severity: Severity = Severity.CRITICAL


class NotificationPolicy(_Strict):
    """How customers hear from us. `channel`: by email, as a public comment on the source ticket
    (Zendesk/Jira cases; others fall back to email), or both. `templates` names an ops file of
    overrides (relative to the policy file); loading the policy inlines it into `overrides`, so the
    snapshot in each case is self-contained."""

    channel: Literal["email", "ticket", "both"] = "email"
    sender: str | None = None
    """The From address of customer mail (else $RECOVERY_MAIL_FROM)."""
    reply_to: str | None = None
    templates: str | None = None
    overrides: Overrides = {}

    @field_validator("overrides")
    @classmethod
    def _checked(cls, value: Overrides) -> Overrides:
        """Overrides written into the policy itself get the templates file's checks."""
        problems = [
            p
            for channel, table in value.items()
            for name, tpl in table.items()
            for p in check_override(channel, name, tpl)
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return value


class Policy(_Strict):
    name: str = "default"
    version: str = "1"
    default_severity: Severity = Severity.NORMAL
    assignee_role: str = "agent"
    calendar: BusinessCalendar = BusinessCalendar()
    calendars: dict[str, Calendar] = {}
    severities: dict[Severity, StepDeadlines]
    escalation: EscalationPolicy = EscalationPolicy()
    roles: dict[str, RolePolicy]
    compensation: CompensationPolicy = CompensationPolicy()
    offers: OfferPolicy = OfferPolicy()
    follow_up: FollowUpPolicy = FollowUpPolicy()
    repeat_contacts: RepeatContacts = RepeatContacts()
    triage: TriagePolicy = TriagePolicy()
    root_causes: list[str]
    apply_policy_roles: list[str] = ["manager"]
    """Roles that may move an open case of this policy onto another one (`apply_policy`)."""
    notifications: NotificationPolicy = NotificationPolicy()
    learning: LearningPolicy = LearningPolicy()
    """Repeat-mistake alerts (`workflows/learning.py`); read by the worker's projector, not by cases."""

    _clocks: dict[Severity, Clock] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _complete(self) -> Policy:
        missing = [s.value for s in Severity if s not in self.severities]
        if missing:
            raise ValueError(f"severities: missing {', '.join(missing)}")
        if self.assignee_role not in self.roles:
            raise ValueError(f"assignee_role {self.assignee_role!r} is not one of roles")
        if not self.root_causes:
            raise ValueError("root_causes: list at least one root cause")
        for severity, deadlines in self.severities.items():
            if deadlines.calendar is not None and deadlines.calendar not in self.calendars:
                defined = ", ".join(sorted(self.calendars)) or "none"
                raise ValueError(
                    f"severities.{severity.value}.calendar: unknown calendar "
                    f"{deadlines.calendar!r} (defined in [calendars]: {defined})"
                )
        return self

    def deadlines(self, severity: Severity) -> StepDeadlines:
        return self.severities[severity]

    def clock(self, severity: Severity) -> Clock:
        clock = self._clocks.get(severity)
        if clock is None:
            business = self.severities[severity].clock == "business"
            clock = self._clocks[severity] = Clock(self.business_calendar(severity) if business else None)
        return clock

    def business_calendar(self, severity: Severity) -> BusinessCalendar | Calendar:
        """The calendar a severity's business clock counts in (the short form unless it names one)."""
        name = self.severities[severity].calendar
        return self.calendars[name] if name is not None else self.calendar

    def calendar_named(self, name: str | None) -> BusinessCalendar | Calendar:
        """`[calendars.NAME]`, or the `[calendar]` short form for None or "default"."""
        if name is None or (name == "default" and name not in self.calendars):
            return self.calendar
        if name not in self.calendars:
            defined = ", ".join(["default", *sorted(self.calendars)])
            raise PolicyError(f"unknown calendar {name!r} (defined: {defined})")
        return self.calendars[name]

    def zone(self, severity: Severity) -> ZoneInfo:
        """The zone moments are shown in to people: the severity's calendar's."""
        return self.business_calendar(severity).zone

    def role(self, name: str) -> RolePolicy | None:
        return self.roles.get(name)

    def limit_of(self, role: str, currency: str) -> Decimal:
        policy = self.roles.get(role)
        return policy.limit.get(currency, Decimal(0)) if policy else Decimal(0)

    def approval_limit_of(self, role: str, currency: str) -> Decimal | None:
        policy = self.roles.get(role)
        if policy is None or currency not in policy.approves_up_to:
            return None
        return policy.approves_up_to[currency]


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file, the key and why."""

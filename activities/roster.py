"""The roster (`RECOVERY_ROSTER`, TOML): who stands behind each role of the escalation ladder.

    [people.lena]
    name = "Lena Lead"
    email = "lena@example.com"
    slack = "https://hooks.slack.com/services/T000/B000/XXXX"   # an incoming-webhook URL
    webhook = "https://ops.example.com/hooks/recovery"          # a generic JSON webhook
    time_zone = "Europe/Berlin"                                  # for quiet hours
    quiet_hours = ["22:00", "07:00"]                             # non-critical warnings wait

    [roles.team-lead]
    people = ["lena", "tom"]
    rotation = { start = 2026-11-02, handover = "mon 09:00", time_zone = "Europe/Berlin" }

    [causes.wrong-item]
    owner = "dana"                                               # a person, or a role (its on-call)

With a rotation, the on-call person is `people[weeks since start % len(people)]`, the week turning at
the hand-over moment in the rotation's zone; the others follow in list order. Without one, the list
order is the order. A role may also name a person id directly (the engine sends some messages to a
person, e.g. an agent whose proposal was rejected).
"""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from recovery.config import parse_toml_config, read_config_file

_WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
QUIET_TEMPLATES = frozenset({"warning", "new_case", "repeat_contact"})
"""Messages that wait out a person's quiet hours unless the case is critical."""


class RosterError(ValueError):
    """A roster file that cannot be used; the message names the file, the key and why."""


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from None
    return value


def _clock(value: Any) -> time:
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a time of day such as 09:00") from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Person(_Strict):
    name: str | None = None
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    slack: Annotated[str, Field(pattern=r"^https?://")] | None = None
    webhook: Annotated[str, Field(pattern=r"^https?://")] | None = None
    time_zone: str = "UTC"
    quiet_hours: tuple[time, time] | None = None

    _check_zone = field_validator("time_zone")(lambda cls, v: _zone(v))

    @field_validator("quiet_hours", mode="before")
    @classmethod
    def _hours(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (list, tuple)) and len(value) == 2:
            return tuple(_clock(v) for v in value)
        raise ValueError('quiet_hours must be a pair such as ["22:00", "07:00"]')

    @model_validator(mode="after")
    def _reachable(self) -> Person:
        if not (self.email or self.slack or self.webhook):
            raise ValueError("give at least one channel: email, slack or webhook")
        return self

    def quiet_at(self, moment: datetime) -> bool:
        if self.quiet_hours is None:
            return False
        local = moment.astimezone(ZoneInfo(self.time_zone)).time()
        start, end = self.quiet_hours
        return start <= local < end if start < end else (local >= start or local < end)


class Rotation(_Strict):
    start: date
    """The first week's hand-over day: its on-call is the role's first person."""
    handover: str = "mon 09:00"
    time_zone: str = "UTC"

    _check_zone = field_validator("time_zone")(lambda cls, v: _zone(v))

    @field_validator("handover")
    @classmethod
    def _handover(cls, value: str) -> str:
        parts = value.lower().split()
        if len(parts) != 2 or parts[0][:3] not in _WEEKDAYS:
            raise ValueError(f'handover {value!r}: write a weekday and a time, e.g. "mon 09:00"')
        _clock(parts[1])
        return value

    def first_handover(self) -> datetime:
        day_name, clock = self.handover.lower().split()
        weekday = _WEEKDAYS.index(day_name[:3])
        day = self.start + timedelta(days=(weekday - self.start.weekday()) % 7)
        return datetime.combine(day, _clock(clock), tzinfo=ZoneInfo(self.time_zone))

    def week(self, moment: datetime) -> int:
        """Weeks since the first hand-over, counted in local time (a DST week stays one week)."""
        first = self.first_handover()
        local = moment.astimezone(first.tzinfo)
        naive_delta = local.replace(tzinfo=None) - first.replace(tzinfo=None)
        return naive_delta // timedelta(days=7)


class Role(_Strict):
    people: Annotated[list[str], Field(min_length=1)]
    rotation: Rotation | None = None


class CauseOwner(_Strict):
    owner: str
    """Who hears the cause's repeat-mistake alerts: a person id, or a role (its on-call person)."""


class Roster(_Strict):
    people: dict[str, Person] = {}
    roles: dict[str, Role] = {}
    causes: dict[str, CauseOwner] = {}

    @model_validator(mode="after")
    def _known_people(self) -> Roster:
        for role, entry in self.roles.items():
            unknown = [p for p in entry.people if p not in self.people]
            if unknown:
                raise ValueError(f"roles.{role}: unknown people {', '.join(unknown)} (define them under [people])")
        for cause, owned in self.causes.items():
            if owned.owner not in self.people and owned.owner not in self.roles:
                raise ValueError(
                    f"causes.{cause}.owner: {owned.owner!r} is neither a person under [people] nor a role under [roles]"
                )
        return self

    def order(self, role: str, at: datetime) -> list[str]:
        """The people of `role` in the order to try them at `at`: the on-call one first."""
        entry = self.roles.get(role)
        if entry is None:
            return [role] if role in self.people else []
        people = list(entry.people)
        if entry.rotation is not None:
            shift = entry.rotation.week(at) % len(people)
            people = people[shift:] + people[:shift]
        return people

    def on_call(self, role: str, at: datetime) -> str | None:
        order = self.order(role, at)
        return order[0] if order else None

    def cause_owner(self, cause: str, at: datetime, fallback_role: str) -> str | None:
        """The person who hears `cause`'s alerts at `at`: its owner (a role's on-call person), else
        the on-call person of `fallback_role`; None when the roster names neither."""
        entry = self.causes.get(cause)
        return self.on_call(entry.owner if entry else fallback_role, at)


def parse_roster(text: str, source: str = "roster") -> Roster:
    return parse_toml_config(text, source, Roster, RosterError)


def load_roster(path: str | os.PathLike[str] | None = None) -> Roster | None:
    """The roster at `path`, else at $RECOVERY_ROSTER; None when neither is given."""
    path = path or os.environ.get("RECOVERY_ROSTER")
    if not path:
        return None
    return parse_roster(read_config_file(path, "roster", RosterError), str(Path(path)))

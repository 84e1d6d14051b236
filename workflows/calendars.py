"""Business calendars: working windows per weekday, holidays, special days, in one IANA time zone.

Pure and deterministic: a calendar is plain data (dates and minutes), so the copy snapshotted into
a workflow replays identically. Holiday files (.ics) are read by `workflows.holiday_files` when the
policy is loaded, outside any workflow; only the dates they name enter the calendar.

Arithmetic is exact and DST-correct. Each window is defined in local clock time and converted to
UTC instants for its own date:
- a window on a DST night is as long as the local clock says (00:00-06:00 is 5 real hours on the
  spring-forward night, 7 on the fall-back night);
- a local time that does not exist that night (inside the spring-forward gap) is the moment the
  clock jumps, so a window lying wholly inside the gap has no length and is skipped;
- an ambiguous start (the fall-back hour) is its first occurrence, an ambiguous end its last.
A window such as "22:00-06:00" belongs to the date it starts on and runs into the next day; a
holiday closes the windows that start on it. A date listed in `special_days` has exactly its own
windows, whatever the week and the holidays say (a short day, or a working holiday).
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
from itertools import pairwise
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    PrivateAttr,
    field_validator,
    model_validator,
)

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY_MINUTES = 24 * 60
_SEARCH_DAYS = 3700  # ten years of days: a bound on any search, never reached by a usable calendar
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
UTC = timezone.utc


class Window(BaseModel):
    """A working window in local clock minutes since midnight; `end` may be 1440 (24:00), and an
    `end` at or before `start` means the window runs past midnight into the next day."""

    model_config = ConfigDict(frozen=True)
    start: int
    end: int

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    @property
    def minutes(self) -> int:
        return self.end - self.start if not self.overnight else DAY_MINUTES - self.start + self.end

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_window(value: Any) -> Window:
    """`"08:00-12:00"`, `"00:00-24:00"` (the whole day) or `"22:00-06:00"` (past midnight)."""
    if isinstance(value, Window):
        return value
    if isinstance(value, dict):
        return Window.model_validate(value)
    match = _WINDOW.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f'invalid window {value!r}: write it as "08:00-12:00"')
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise ValueError(f"invalid window {value!r}: hours run 00:00 to 24:00")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end == 0:
        end = DAY_MINUTES  # "22:00-00:00" ends at midnight, as "22:00-24:00" does
    if start == end:
        raise ValueError(f'window {value!r} is empty (for the whole day write "00:00-24:00")')
    if end < start and not _overnight_ok(start, end):
        raise ValueError(
            f"window {value!r} ends before it starts (a window past midnight runs from "
            'the evening to the morning, e.g. "22:00-06:00")'
        )
    return Window(start=start, end=end)


def _overnight_ok(start: int, end: int) -> bool:
    """A window ending before it starts runs past midnight: allowed when it starts in the evening
    (from 12:00) and ends in the morning (by 12:00). "17:00-09:00" is a night shift; "09:00-08:00"
    is a typing mistake, reported as a window that ends before it starts."""
    return start >= 12 * 60 and end <= 12 * 60


def _windows(value: Any) -> list[Window]:
    if not isinstance(value, list):
        raise ValueError('write the windows as a list, e.g. ["08:00-12:00", "13:00-18:00"]')
    windows = sorted((parse_window(v) for v in value), key=lambda w: w.start)
    for first, second in pairwise(windows):
        if first.overnight or second.start < first.end:
            raise ValueError(f"windows {first} and {second} overlap")
    return windows


WindowList = Annotated[
    list[Window], BeforeValidator(_windows), PlainSerializer(lambda ws: [str(w) for w in ws], return_type=list[str])
]


def _day_key(value: Any) -> Any:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"invalid date {value!r}: write it as 2026-12-24") from None
    return value


class Calendar(BaseModel):
    """The full calendar form (`[calendars.NAME]`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time_zone: str = "UTC"
    week: dict[str, WindowList] = {}
    holidays: list[date] = []
    holiday_files: list[str] = []
    """The files named in the policy, for display; their dates are in `file_holidays`."""
    file_holidays: list[date] = []
    """Dates read from `holiday_files` when the policy was loaded (never re-read in a workflow)."""
    special_days: dict[Annotated[date, BeforeValidator(_day_key)], WindowList] = {}

    _zone: ZoneInfo | None = PrivateAttr(default=None)
    _day_cache: dict[date, list[tuple[datetime, datetime]]] = PrivateAttr(default_factory=dict)
    _closed: frozenset[date] | None = PrivateAttr(default=None)
    _idx: CalendarArithmetic | None = PrivateAttr(default=None)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return check_zone(value)

    @field_validator("week", mode="before")
    @classmethod
    def _weekdays(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError('write the week as { mon = ["09:00-17:00"], ... }')
        full = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
        unknown = [k for k in value if str(k).lower() not in WEEKDAYS + full]
        if unknown:
            raise ValueError(f"unknown day {unknown[0]!r}: use {', '.join(WEEKDAYS)}")
        return {k.lower()[:3]: v for k, v in value.items()}

    @model_validator(mode="after")
    def _coherent(self) -> Calendar:
        for index, day in enumerate(WEEKDAYS):
            windows = self.week.get(day, [])
            following = self.week.get(WEEKDAYS[(index + 1) % 7], [])
            spill = [w for w in windows if w.overnight]
            if spill and following and following[0].start < spill[-1].end:
                raise ValueError(
                    f"week: {day} {spill[-1]} runs into {WEEKDAYS[(index + 1) % 7]} {following[0]} (windows overlap)"
                )
        if not any(self.week.values()) and not any(self.special_days.values()):
            raise ValueError("the calendar has no working time at all (give week some windows)")
        return self

    # ---- lookups -------------------------------------------------------------------------------

    @property
    def zone(self) -> ZoneInfo:
        if self._zone is None:
            self._zone = ZoneInfo(self.time_zone)
        return self._zone

    def is_holiday(self, day: date) -> bool:
        if self._closed is None:
            self._closed = frozenset(self.holidays) | frozenset(self.file_holidays)
        return day in self._closed

    def local_windows(self, day: date) -> list[Window]:
        """The windows that start on `day` (local date)."""
        if day in self.special_days:
            return self.special_days[day]
        if self.is_holiday(day):
            return []
        return self.week.get(WEEKDAYS[day.weekday()], [])

    def day_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The UTC instants of the windows starting on `day`; windows of no real length are left out."""
        cached = self._day_cache.get(day)
        if cached is not None:
            return cached
        zone = self.zone
        result = []
        for window in self.local_windows(day):
            start_local = datetime.combine(day, time()) + timedelta(minutes=window.start)
            end_day = day + timedelta(days=1) if window.overnight or window.end == DAY_MINUTES else day
            end_local = datetime.combine(end_day, time()) + timedelta(minutes=window.end % DAY_MINUTES)
            start, end = to_utc(start_local, zone, first=True), to_utc(end_local, zone, first=False)
            if end > start:
                result.append((start, end))
        if len(self._day_cache) > 20000:
            self._day_cache.clear()
        self._day_cache[day] = result
        return result

    def intervals_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals (UTC, in order, merged where they touch) that end after `moment`."""
        day = moment.astimezone(self.zone).date() - timedelta(days=1)  # yesterday's overnight window
        pending: tuple[datetime, datetime] | None = None
        for _ in range(_SEARCH_DAYS):
            for start, end in self.day_intervals(day):
                if end <= moment:
                    continue
                if pending is None:
                    pending = (start, end)
                elif start <= pending[1]:
                    pending = (pending[0], max(pending[1], end))
                else:
                    yield pending
                    pending = (start, end)
            day += timedelta(days=1)
        if pending is not None:
            yield pending
        raise ValueError("the business calendar has no working time in the next ten years")

    # ---- arithmetic ----------------------------------------------------------------------------

    def add(self, start: datetime, seconds: float) -> datetime:
        """The moment when `seconds` of working time have passed after `start`. A start outside
        working time counts from the next opening; a budget that ends exactly at a closing time is
        due at that closing time (not at the next opening)."""
        at = to_micros(start)
        if seconds <= 0:
            return from_micros(at)
        return from_micros(self._index(at).add(at, round(seconds * 1_000_000)))

    def elapsed(self, start: datetime, end: datetime) -> float:
        """Working seconds between `start` and `end`."""
        a, b = to_micros(start), to_micros(end)
        if b <= a:
            return 0.0
        index = self._index(a)
        return (index.cumulative(b) - index.cumulative(a)) / 1_000_000

    def arithmetic(self, at: int) -> CalendarArithmetic:
        """The prefix-sum index answering instants from `at` (microseconds since the epoch) on."""
        return self._index(at)

    def _index(self, at: int) -> CalendarArithmetic:
        index = self._idx
        if index is None or at < index.covers_from:
            key = self.model_dump_json()
            index = _INDEXES.get(key)
            if index is None or at < index.covers_from:
                day = from_micros(at).astimezone(self.zone).date() - timedelta(days=2)
                index = CalendarArithmetic(self, day)
                if len(_INDEXES) > 64:
                    _INDEXES.clear()
                _INDEXES[key] = index
            self._idx = index
        return index

    def windows_between(self, first: date, days: int) -> list[tuple[date, list[tuple[datetime, datetime]]]]:
        """Per local date, the working windows starting that day, as instants in the calendar's zone."""
        zone = self.zone
        return [
            (day, [(s.astimezone(zone), e.astimezone(zone)) for s, e in self.day_intervals(day)])
            for day in (first + timedelta(days=n) for n in range(days))
        ]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_DAY_US = 86_400_000_000


def to_micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _US


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


class CalendarArithmetic:
    """A calendar's working intervals from a day on, merged, in integer microseconds since the epoch,
    with prefix sums of their lengths: `elapsed` and `add` are two binary searches, however far
    apart the instants are. Extended day by day as later instants are asked for. Shared by every
    copy of the same calendar (keyed by its content), so a workflow's deserialized policy reuses it;
    it is a cache of a pure function, so sharing it cannot change any result."""

    def __init__(self, calendar: Calendar, first_day: date):
        self.calendar = calendar
        self.next_day = first_day
        self.covers_from = to_micros(datetime.combine(first_day + timedelta(days=1), time(), tzinfo=UTC))
        """Instants from here on are answered exactly (a day of margin for the zone's offset)."""
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.before: list[int] = []
        """Working time before each interval."""
        self.after: list[int] = []
        """Working time up to the end of each interval."""
        self.total = 0
        self.safe_until = -(2**62)
        """Instants before this need no more days (two days of margin for zones and overnight windows)."""
        # Workers run workflow tasks on several threads and they share this index: one at a time.
        self.lock = threading.Lock()

    def _extend(self, until: int) -> None:
        """Add days until the intervals reach past `until` (and one more day for overnight windows)."""
        if until < self.safe_until:
            return
        horizon_day = from_micros(until).astimezone(UTC).date() + timedelta(days=2)
        while self.next_day <= horizon_day:
            self._add_day()

    def _add_day(self) -> None:
        for start, end in self.calendar.day_intervals(self.next_day):
            s, e = to_micros(start), to_micros(end)
            if self.ends and s <= self.ends[-1]:  # touching or overlapping the previous: merge
                if e > self.ends[-1]:
                    self.total += e - self.ends[-1]
                    self.ends[-1] = e
                    self.after[-1] = self.total
                continue
            self.starts.append(s)
            self.ends.append(e)
            self.before.append(self.total)
            self.total += e - s
            self.after.append(self.total)
        self.next_day += timedelta(days=1)
        self.safe_until = to_micros(datetime.combine(self.next_day, time(), tzinfo=UTC)) - 2 * _DAY_US

    def cumulative(self, at: int) -> int:
        """Working microseconds from the index's first day to `at`."""
        with self.lock:
            return self._cumulative(at)

    def _cumulative(self, at: int) -> int:
        self._extend(at)
        i = bisect_right(self.starts, at) - 1
        if i < 0:
            return 0
        return self.before[i] + min(at - self.starts[i], self.ends[i] - self.starts[i])

    def add(self, at: int, amount: int) -> int:
        with self.lock:
            return self._add(at, amount)

    def _add(self, at: int, amount: int) -> int:
        target = self._cumulative(at) + amount
        for _ in range(_SEARCH_DAYS):
            if self.total >= target:
                break
            self._add_day()
        else:
            raise ValueError("the business calendar has no working time in the next ten years")
        # The first interval whose end reaches the target: a target equal to its end is due at the closing time.
        i = bisect_left(self.after, target)
        return self.starts[i] + (target - self.before[i])


_INDEXES: dict[str, CalendarArithmetic] = {}


def check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a tz directory such as "America"
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from None
    return value


def to_utc(local: datetime, zone: ZoneInfo, *, first: bool) -> datetime:
    """A naive local clock time in `zone` as a UTC instant. Ambiguous (the repeated hour): its first
    occurrence when `first`, else its last. Nonexistent (the skipped hour): the moment of the jump."""
    early = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    late = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if early == late:
        return early
    if early < late:  # the repeated hour: both instants show this local time
        return early if first else late
    # The skipped hour: fold=1 reads it with the new offset (earlier), fold=0 with the old (later);
    # the jump lies between. Transitions fall on whole seconds, so bisect on whole seconds for the
    # first instant that has the new offset.
    after = early.astimezone(zone).utcoffset()
    lo, hi = int(late.timestamp()), int(early.timestamp())  # offset(lo) is the old one, offset(hi) the new
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(zone).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)

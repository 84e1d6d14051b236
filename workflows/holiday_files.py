"""Holiday files: the dates an RFC 5545 (.ics) file names, read when a policy is loaded, outside any
workflow; only those dates enter a calendar (`Calendar.file_holidays`)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any


class HolidayFileError(ValueError):
    """A holiday file that cannot be used; the message says why."""


def load_holiday_file(path: Path) -> list[date]:
    """The dates of the all-day events (and the dates touched by timed events) of an RFC 5545 file.
    Multi-day events (DTEND exclusive) give every date they cover; recurring events are expanded
    over the years 2000-2100."""
    import icalendar  # only at policy load time: never imported by workflow code

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise HolidayFileError(f"cannot read {path}: {exc.strerror}") from None
    try:
        cal = icalendar.Calendar.from_ical(raw)
    except ValueError as exc:
        raise HolidayFileError(f"{path} is not an iCalendar (.ics) file: {exc}") from None
    days: set[date] = set()
    for event in cal.walk("VEVENT"):
        start_prop = event.get("DTSTART")
        if start_prop is None:
            continue
        start = start_prop.dt
        end_prop = event.get("DTEND")
        end = end_prop.dt if end_prop is not None else None
        first = start if not isinstance(start, datetime) else start.date()
        if end is None:
            length = 1
        else:
            last = end if not isinstance(end, datetime) else end.date()
            length = max(1, (last - first).days)
        starts = [first]
        rule = event.get("RRULE")
        if rule is not None:
            starts = _expand(event, first)
        for begin in starts:
            days.update(begin + timedelta(days=n) for n in range(length))
    if not days:
        raise HolidayFileError(f"{path} names no events (VEVENT with DTSTART)")
    return sorted(days)


def _expand(event: Any, first: date) -> list[date]:
    from dateutil.rrule import rrulestr

    rule = event.get("RRULE").to_ical().decode()
    start = datetime.combine(first, time())
    until = datetime(2100, 12, 31)
    return [d.date() for d in rrulestr(rule, dtstart=start).between(start, until, inc=True)]

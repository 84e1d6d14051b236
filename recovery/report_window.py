"""The window of a report over the read model: moments taken as UTC, checked in order."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_moment(value: datetime | None) -> datetime | None:
    """Naive datetimes are taken as UTC; a moment that has no UTC time (0001-01-01T00:00+14:00,
    9999-12-31T23:59-14:00) is a ValueError."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is outside the range of UTC times (years 1-9999)") from None


def checked_window(since: datetime | None, until: datetime | None) -> tuple[datetime | None, datetime | None]:
    """(since, until) in UTC; a ValueError when since is after until."""
    since, until = utc_moment(since), utc_moment(until)
    if since is not None and until is not None and since > until:
        raise ValueError(f"since ({since.isoformat()}) is after until ({until.isoformat()})")
    return since, until

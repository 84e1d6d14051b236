"""The report pages' `since=`/`until=` query text as datetimes, refused with a sentence."""

from __future__ import annotations

from datetime import datetime


def query_dates(since: str, until: str) -> dict[str, datetime]:
    """The bounds given (dates or moments; empty for no bound) by name; a ValueError with a
    sentence for the page when one is not a date."""
    dates: dict[str, datetime] = {}
    for name, text in (("since", since), ("until", until)):
        if text.strip():
            try:
                dates[name] = datetime.fromisoformat(text.strip())
            except ValueError:
                raise ValueError(f"“{text[:40]}” is not a date (e.g. 2026-11-01).") from None
    return dates

"""Per-case figures the causes report (recovery/causes.py) aggregates, worked out by the projection's
fold so that the report reads one row per closed case instead of its events and steps: how often the
case was reopened, its follow-up scores, and the time its agent steps took less the time it was paused.
Migration 017 computes the same from the stored events and steps of the cases projected before it.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from workflows.models import DomainEvent

COLUMNS = ["reopen_count", "csat_answers", "csat_total", "agent_step_s"]
"""The `cases` columns these figures fill."""


def figures(events: list[DomainEvent], steps: list[dict[str, Any]], closed_at: datetime | None) -> dict[str, Any]:
    """The figures of one case from its folded events (in sequence order) and its steps.

    * `reopen_count`: its `reopened` events;
    * `csat_answers`, `csat_total`: its `follow_up_done` events with a numeric `csat` (every answer: a
      reopened case may answer twice), and the sum of those scores (None without any);
    * `agent_step_s`: once closed, the seconds of its completed steps other than the follow-up, each
      less its overlap with every pause (a `paused` event to the next `resumed`, or to the close); None
      before the close or without such a step."""
    scores = [s for s in (_score(e) for e in events) if s is not None]
    return {
        "reopen_count": sum(1 for e in events if e.type == "reopened"),
        "csat_answers": len(scores),
        "csat_total": sum(scores, Decimal(0)) if scores else None,
        "agent_step_s": None if closed_at is None else agent_step_seconds(events, steps, closed_at),
    }


def _score(event: DomainEvent) -> Decimal | None:
    """The event's follow-up score as the report counts it: any JSON number (a boolean is none)."""
    value = event.data.get("csat") if event.type == "follow_up_done" else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return Decimal(str(value))  # the digits the event store holds


def agent_step_seconds(events: list[DomainEvent], steps: list[dict[str, Any]], closed_at: datetime) -> float | None:
    pauses = [
        (e.at, next((r.at for r in events[i + 1 :] if r.type == "resumed"), closed_at))
        for i, e in enumerate(events)
        if e.type == "paused"
    ]
    done = [s for s in steps if s["step"] != "follow_up" and s["completed_at"] is not None]
    if not done:
        return None
    total = timedelta(0)
    for step in done:
        start, stop = step["started_at"], step["completed_at"]
        paused = sum(
            (max(timedelta(0), min(stop, p_stop) - max(start, p_start)) for p_start, p_stop in pauses), timedelta(0)
        )
        total += stop - start - paused
    return total.total_seconds()

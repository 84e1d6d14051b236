"""Per-case figures the causes report (recovery/causes.py) aggregates, worked out by the projection's
fold so that the report reads one row per closed case instead of its events and steps: how often the
case was reopened, its follow-up scores (the customer's own apart from those agents entered), and the
time its agent steps took less the time it was paused. Migrations 017 and 020 compute the same from the
stored events and steps of the cases projected before them.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from recovery.csat import CUSTOMER_ACTOR, SCORE_EVENT_ID, SCORE_TEXT
from workflows.models import DomainEvent

COLUMNS = [
    "reopen_count",
    "csat_answers",
    "csat_total",
    "customer_csat_answers",
    "customer_csat_total",
    "agent_csat_answers",
    "agent_csat_total",
    "agent_step_s",
]
"""The `cases` columns these figures fill."""


def figures(events: list[DomainEvent], steps: list[dict[str, Any]], closed_at: datetime | None) -> dict[str, Any]:
    """The figures of one case from its folded events (in sequence order) and its steps.

    * `reopen_count`: its `reopened` events;
    * `customer_csat_answers`, `customer_csat_total`: the customer's own scores and their sum (None
      without any), by the rules of the SLA report's CSAT section (recovery/csat.py): per follow-up
      question asked, the customer's last answer from the case page (a score that completed it, or a
      middle score sent as a customer message), so a reopened case may have two;
    * `agent_csat_answers`, `agent_csat_total`: the scores on `follow_up_done` events by anyone else;
    * `csat_answers`, `csat_total`: both together, every score;
    * `agent_step_s`: once closed, the seconds of its completed steps other than the follow-up, each
      less its overlap with every pause (a `paused` event to the next `resumed`, or to the close); None
      before the close or without such a step."""
    customer = customer_scores(events)
    agents = [s for s in (_score(e) for e in events if e.actor != CUSTOMER_ACTOR) if s is not None]
    return {
        "reopen_count": sum(1 for e in events if e.type == "reopened"),
        **_sum("csat", customer + agents),
        **_sum("customer_csat", customer),
        **_sum("agent_csat", agents),
        "agent_step_s": None if closed_at is None else agent_step_seconds(events, steps, closed_at),
    }


def _sum(prefix: str, scores: list[Decimal]) -> dict[str, Any]:
    return {f"{prefix}_answers": len(scores), f"{prefix}_total": sum(scores, Decimal(0)) if scores else None}


def customer_scores(events: list[DomainEvent]) -> list[Decimal]:
    """The customer's score for each follow-up question: a question is asked by the first
    `follow_up_asked` after the previous `follow_up_done` and recorded by the next one; its answer is
    the customer's last one in between (an erased middle score answers without a score)."""
    scores: list[Decimal] = []
    asked, answer = False, None
    for event in events:
        if event.type == "follow_up_asked":
            asked = True
        elif asked and event.actor == CUSTOMER_ACTOR:
            if event.type == "follow_up_done":
                answer = _score(event)
            elif event.type == "customer_replied" and str(event.data.get("event_id", "")).startswith(SCORE_EVENT_ID):
                answer = _middle_score(event)
        if event.type == "follow_up_done":
            scores += [answer] if answer is not None else []
            asked, answer = False, None
    return scores + ([answer] if answer is not None else [])


def _middle_score(event: DomainEvent) -> Decimal | None:
    found = re.match(SCORE_TEXT, str(event.data.get("text", "")))
    return Decimal(found.group(1)) if found else None


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

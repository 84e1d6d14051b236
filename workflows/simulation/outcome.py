"""Outcome counting: which step rounds were completed, breached, warned and escalated, from any event list.

The same counting reads the recorded history and the candidate's simulated one, so the two can be
compared figure by figure; it knows nothing of policies or the step machine, only event types and
their data, which is why it stands apart from the replay.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from workflows.simulation.history import EventLike


@dataclass
class StepRound:
    step: str
    round: int
    severity: str
    completed_at: datetime | None = None
    breached: bool = False
    due_at: datetime | None = None
    """When it was due (simulated cases only: the machine knows it)."""


@dataclass
class Outcome:
    steps: list[StepRound] = field(default_factory=list)
    warnings: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(severity, step) → warnings."""
    escalations: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    """(severity, step, level) → escalations."""
    max_level: int = 0

    def breached(self) -> set[tuple[int, str]]:
        return {(r.round, r.step) for r in self.steps if r.breached}


_COMPLETES = {
    "acknowledged": "acknowledge",
    "fix_recorded": "fix",
    "compensation_issued": "compensate",
    "follow_up_done": "follow_up",
    "closed": "close",
}
_NEXT = {"acknowledge": "fix", "fix": "compensate", "compensate": "follow_up", "follow_up": "close", "close": "closed"}


_OUTCOME_TYPES = {"opened", "severity_changed", "warning", "escalated", "reopened", *_COMPLETES}
"""The event types `outcome_of` reads."""


def is_breach(event: EventLike) -> bool:
    """An escalation for a missed step deadline (as the read model counts breaches)."""
    return event.type == "escalated" and event.data.get("reason") == "deadline missed"


def outcome_of(events: Sequence[EventLike], dues: dict[tuple[int, str], datetime] | None = None) -> Outcome:
    result = Outcome()
    severity, step, round_ = "normal", "acknowledge", 1
    for e in events:
        if e.type not in _OUTCOME_TYPES:
            continue  # status updates, notifications, ...: half of a history, and none counts here
        d = e.data
        if e.type == "opened":
            severity = d["severity"]
            result.steps.append(StepRound("acknowledge", 1, severity))
        elif not result.steps:
            continue
        elif e.type == "severity_changed":
            severity = d["severity"]
            if result.steps[-1].completed_at is None:
                result.steps[-1].severity = severity
        elif e.type == "warning":
            result.warnings[(severity, str(d.get("step")))] += 1
        elif e.type == "escalated":
            level = int(d.get("level", 0))
            result.escalations[(severity, str(d.get("step")), level)] += 1
            result.max_level = max(result.max_level, level)
            current = result.steps[-1]
            if is_breach(e) and current.step == d.get("step") and current.completed_at is None:
                current.breached = True
        elif e.type == "reopened":
            round_ += 1
            step = "fix"
            result.steps.append(StepRound("fix", round_, severity))
        elif e.type in _COMPLETES and _COMPLETES[e.type] == step:
            if e.type == "follow_up_done" and d.get("outcome") == "unsatisfied":
                result.steps[-1].completed_at = e.at
                continue  # the reopened event starts the next round
            result.steps[-1].completed_at = e.at
            step = _NEXT[step]
            if step != "closed":
                result.steps.append(StepRound(step, round_, severity))
    if dues:
        for r in result.steps:
            r.due_at = dues.get((r.round, r.step))
    return result

"""Prevention actions (a lead's fix for a root cause): the workflow's input, its update's input and
the state it projects to the read model (`prevention_actions`, migration 013). Pure data, safe in
workflow code."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import Field, field_validator

from workflows.models import Actor, Identifier, _Model

PROJECT_PREVENTION = "project_prevention"
"""The activity that writes an action's state to the read model (activities/prevention.py)."""

CAUSE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:/@-]{0,99}$")
Cause = Annotated[str, Field(min_length=1, max_length=100)]
Description = Annotated[str, Field(min_length=1, max_length=2000)]
Note = Annotated[str, Field(min_length=1, max_length=2000)]

REMIND_BEFORE = timedelta(days=1)
"""The owner is reminded this long before the due date (half-way for an action due within 2 days)."""
ESCALATE_EVERY = timedelta(days=1)
"""After a missed due date, the next role of the ladder hears of it this much later."""


def check_cause(value: str) -> str:
    value = value.strip()
    if not CAUSE_PATTERN.match(value):
        raise ValueError("a cause is 1-100 letters, digits, spaces or . _ : / @ -, starting with a letter or digit")
    return value


def reminder_at(opened_at: datetime, due: datetime) -> datetime:
    """When the owner is reminded: a day before the due date, or half-way for a short action."""
    if due - opened_at > 2 * REMIND_BEFORE:
        return due - REMIND_BEFORE
    return opened_at + (due - opened_at) / 2


class PreventionStart(_Model):
    """The workflow's input (validated by the API before the start)."""

    action_id: Identifier
    cause: Cause
    description: Description
    owner: Identifier
    """An agent id (agents file) or a roster person: who is reminded."""
    due: datetime
    opened_by: Actor
    ladder: list[Identifier] = ["team-lead", "manager"]
    """Who hears of a missed due date, in order, one more every `ESCALATE_EVERY`."""
    lead_roles: list[Identifier] = ["team-lead", "manager", "executive"]
    """Who may close it besides its owner."""

    _cause = field_validator("cause")(lambda cls, v: check_cause(v))


class CompleteInput(_Model):
    note: Note
    """What was changed (required: the record of the fix)."""
    actor: Actor

    @field_validator("note")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("say what was changed")
        return value


class PreventionState(_Model):
    """The action as the read model holds it; `version` grows with every change."""

    action_id: str
    cause: str
    description: str
    owner: str
    due: datetime
    opened_by: str
    opened_at: datetime
    status: Literal["open", "done"] = "open"
    reminded_at: datetime | None = None
    escalation_level: int = 0
    escalated_to: str | None = None
    escalated_at: datetime | None = None
    done_at: datetime | None = None
    done_by: str | None = None
    note: str | None = None
    version: int = 1

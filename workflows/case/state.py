"""The case's state: `CaseState`, the plain pydantic data the step machine works on and a run carries
across continue-as-new, its step clock, and the constants of the rules."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from workflows.effects import Effect
from workflows.models import Compensation, DomainEvent, Offer, TicketEvent
from workflows.policy import Policy, Severity, Step

# Workflow time has millisecond precision; a timer may wake a hair before the computed moment.
_EPSILON = 0.001

SEEN_WINDOW = 2000
"""How many recent contact event ids (as digests) a case remembers for de-duplication; ticket
systems redeliver within minutes or hours, so a window this size catches redeliveries while the
carried state stays a few tens of KB whatever the number of contacts."""
SILENCE_RETRY = timedelta(hours=1)
"""After a status update that was not delivered, the next attempt comes this much later at most."""
RECHECK_FIRST = timedelta(seconds=30)
RECHECK_MAX = timedelta(hours=1)
"""A compensation whose outcome is unknown is re-checked after 30 s, doubling up to hourly."""


def event_digest(event_id: str) -> str:
    """A short, stable stand-in for a ticket event id in the de-duplication window."""
    return hashlib.sha256(event_id.encode()).hexdigest()[:20]


class StepClock(BaseModel):
    """The budget of the current step, measured in its severity's clock (wall or business)."""

    budget: float
    consumed: float = 0.0
    """Budget spent before `segment_start`."""
    segment_start: datetime | None
    """When the clock last started running; None while paused or closed."""
    fired_warnings: list[float] = Field(default_factory=list)
    escalations: int = 0
    follow_up_asked: bool = False
    deadline_missed: bool = False
    """The step's deadline passed (recorded once per step as a `deadline_missed` event)."""


SCHEMA_VERSION = 1
"""The version of `CaseState`'s JSON, the contract between builds (a continued run's input): see
tests/compat. A field may be added with a default; none is removed, renamed or retyped."""


class CaseState(BaseModel):
    schema_version: int = SCHEMA_VERSION
    case_id: str
    workflow_id: str
    policy: Policy
    ticket: TicketEvent
    severity: Severity
    step: Step
    opened_at: datetime
    clock: StepClock
    last_customer_message_at: datetime
    seq: int = 0
    events: list[DomainEvent] = []
    """Domain events of this run (and unprojected ones carried over); the event store has them all."""
    seen_event_digests: list[str] = []
    """The last SEEN_WINDOW contact event ids, as `event_digest`s."""
    contact_count: int = 0
    escalation_level: int = 0
    age_ceiling_reached: bool = False
    opening_reported: bool = False
    """Whether a caller has been told that the opening event created the case."""
    paused: bool = False
    pause_reason: str | None = None
    paused_at: datetime | None = None
    pause_used: float = 0.0
    """Pause taken by the case so far, in its severity's clock (working time for business clocks),
    up to `pause_counted_from`; kept across steps, severity and policy changes."""
    pause_counted_from: datetime | None = None
    """While paused: the moment from which the running pause is not yet in `pause_used`."""
    compensations: list[Compensation] = []
    root_cause: str | None = None
    closed_at: datetime | None = None
    outbox: list[Effect] = []
    customer_thread: list[str] = []
    """Keys of the customer messages queued so far: each new one threads below them."""
    projected_seq: int = 0
    """Events up to here are in the event store."""
    assignee: str | None = None
    """The agent who owns the case (`assign`); internal notifications go to them when set."""
    last_silence_update_at: datetime | None = None
    """When the engine last queued a max-silence status update (spaces retries of undelivered ones)."""
    contact_answers: list[tuple[str, int]] = []
    """The last ANSWER_WINDOW new contacts as (update id, the contact count they got)."""
    offer: Offer | None = None
    """The last offer of remedies made at the compensate step (`offer`), open or settled."""
    erased_at: datetime | None = None
    """When the customer's data was erased (`erase`): later messages to them go through the ticket only."""

"""What every part of the step machine stands on: `CaseCore`, the base of the mixins that make up
`Case`, with the state, the guards every step starts with, the severity's clock and the formatting
of moments; and `Rejection`, the refusal a step's check raises.

A method one part calls on another is declared here (under TYPE_CHECKING, so the mixin's own
definition is the only one at run time), next to the module that defines it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from workflows.case.state import CaseState
from workflows.models import Actor, DomainEvent
from workflows.policy import Clock, Policy, Severity, Step

if TYPE_CHECKING:
    from decimal import Decimal

    from workflows.models import Compensation, ResumeInput

RejectionCode = Literal["out_of_order", "closed", "forbidden", "invalid", "conflict", "not_ready"]


class Rejection(Exception):
    """A step that may not happen now. `code` tells callers how to answer (409, 403, 422...)."""

    def __init__(self, code: RejectionCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def format_moment(moment: datetime, policy: Policy) -> str:
    """A customer-readable time in the policy calendar's zone, e.g. `Mon 23 Nov 2026 10:30 EST`."""
    return moment.astimezone(policy.calendar.zone).strftime("%a %d %b %Y %H:%M %Z")


class CaseCore:
    def __init__(self, state: CaseState, *, effects: bool = True):
        self.state = state
        self.effects = effects
        """False for the policy simulator: no notifications or compensation to do, only events."""
        self._clocks: dict[Severity, Clock] = {}
        self._clocks_of: Policy | None = None

    @property
    def closed(self) -> bool:
        return self.state.step is Step.CLOSED

    @property
    def policy(self) -> Policy:
        return self.state.policy

    def _require_open(self, verb: str) -> None:
        if self.closed:
            raise Rejection("closed", f"cannot {verb}: the case is closed")

    def _require_step(self, step: Step, verb: str) -> None:
        self._require_open(verb)
        if self.state.step is not step:
            raise Rejection(
                "out_of_order",
                f"cannot {verb}: the case is at step '{self.state.step.value}'"
                f" (steps run acknowledge → fix → compensate → follow_up → close)",
            )
        if self.state.paused:
            raise Rejection(
                "conflict", f"cannot {verb}: the case is paused ({self.state.pause_reason}); resume it first"
            )

    def _clock(self) -> Clock:
        """The current severity's clock (cached per policy: the simulator asks for it very often)."""
        policy, severity = self.state.policy, self.state.severity
        if policy is not self._clocks_of:
            self._clocks, self._clocks_of = {}, policy
        clock = self._clocks.get(severity)
        if clock is None:
            clock = self._clocks[severity] = policy.clock(severity)
        return clock

    def _clock_kind(self) -> str:
        return self.policy.deadlines(self.state.severity).clock

    def _format(self, moment: datetime | None) -> str:
        """A moment for people, in the zone of the current severity's calendar."""
        if moment is None:
            return ""
        if not self.effects:
            return ""  # nobody reads it: the simulator sends no messages
        return moment.astimezone(self.policy.zone(self.state.severity)).strftime("%a %d %b %Y %H:%M %Z")

    def _owner_or_role(self) -> str:
        """Who hears about this case's warnings and repeat contacts: its owner, else the assignee role."""
        return self.state.assignee or self.policy.assignee_role

    if TYPE_CHECKING:
        # outbox.py
        def _event(self, type_: str, now: datetime, actor: Actor, **data: Any) -> DomainEvent: ...

        def _notify(
            self,
            event: DomainEvent,
            audience: Literal["customer", "internal"],
            recipient: str,
            template: str,
            **params: str,
        ) -> None: ...

        def _notify_customer(self, event: DomainEvent, template: str, **params: str) -> None: ...

        # clock.py
        def _settle(self, now: datetime) -> None: ...

        def _due_at(self, threshold: float) -> datetime | None: ...

        def _escalate(self, now: datetime, level: int, reason: str) -> None: ...

        # steps.py
        def _advance(self, now: datetime) -> None: ...

        def _set_severity(self, severity: Severity, now: datetime, actor: Actor, reason: str) -> None: ...

        # pause.py
        def resume(self, inp: ResumeInput, now: datetime) -> None: ...

        def _pause_left(self, now: datetime | None = None) -> float | None: ...

        def _pause_budget_used_up(self, now: datetime) -> None: ...

        def _settle_pause(self, now: datetime) -> None: ...

        # compensation.py
        def _issue(self, comp: Compensation, event_seq: int) -> None: ...

        @property
        def pending_compensation(self) -> Compensation | None: ...

        def _granted_total(self, currency: str, now: datetime) -> Decimal: ...

        # offers.py
        def _reply_chooses(self, text: str) -> bool: ...

        def _reply_picks(self, text: str, now: datetime, source: str) -> None: ...

        def _offer_deadline(self, now: datetime) -> None: ...

"""The complaint's step machine: pure, deterministic, free of Temporal.

The workflow feeds it validated inputs and the current time (`workflow.now()`); the machine
records domain events, moves deadlines, and queues effects (notifications, compensation to issue)
in an outbox that the workflow drains through activities. Because all of it is plain data, the
whole state survives continue-as-new and the rules can be tested without a server.

`Case` is the front; its rules are in the parts it is made of, one mixin per module:

- `state`: `CaseState` (the data a run carries), `StepClock`, the constants of the rules;
- `core`: `CaseCore`, the base of the parts (the guards, the severity's clock), and `Rejection`;
- `steps`: the agents' steps (acknowledge, fix, follow-up, close) and assign, severity, policy;
- `compensation`: proposals, approval, the instruction to issue, what issuing came to;
- `offers`: remedies offered for the customer to choose, the pick, the choice deadline;
- `pause`: pausing and resuming, the pause budget;
- `contacts`: repeat contacts, customer replies, ignored events, de-duplication;
- `clock`: the step clock, `next_wakeup` and `tick` (warnings, deadlines, escalation, silence);
- `outbox`: the timeline's events, queued notifications, what the workflow reports back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from workflows.case.clock import ClockMixin, Wakeup
from workflows.case.compensation import CompensationMixin
from workflows.case.contacts import ContactsMixin
from workflows.case.core import Rejection, RejectionCode, format_moment
from workflows.case.erasure import ErasureMixin
from workflows.case.offers import OffersMixin
from workflows.case.outbox import OutboxMixin
from workflows.case.pause import PauseMixin
from workflows.case.state import (
    _EPSILON,
    RECHECK_FIRST,
    RECHECK_MAX,
    SCHEMA_VERSION,
    SEEN_WINDOW,
    SILENCE_RETRY,
    CaseState,
    StepClock,
    event_digest,
)
from workflows.case.steps import StepsMixin, assignment_refusal
from workflows.models import (
    ENGINE,
    AcknowledgeInput,
    Actor,
    ApprovalInput,
    CaseStatus,
    CloseInput,
    CompensateInput,
    CompensationKind,
    FixInput,
    FollowUpInput,
    FollowUpOutcome,
    OfferInput,
    PauseInput,
    RemedyOption,
    ResumeInput,
    TicketEvent,
    case_id_of,
)
from workflows.policy import Policy, Step
from workflows.rules import RuleMatch
from workflows.triage import anomalies, opening_severity

__all__ = (
    "RECHECK_FIRST",
    "RECHECK_MAX",
    "SCHEMA_VERSION",
    "SEEN_WINDOW",
    "SILENCE_RETRY",
    "_EPSILON",
    "Case",
    "CaseState",
    "Rejection",
    "RejectionCode",
    "StepClock",
    "Wakeup",
    "assignment_refusal",
    "event_digest",
    "format_moment",
)

PROACTIVE_SOURCE = "proactive"
"""The source of a case opened from an order or payment event, before any complaint."""


class Case(
    StepsMixin, CompensationMixin, OffersMixin, PauseMixin, ContactsMixin, ClockMixin, OutboxMixin, ErasureMixin
):
    # ---- opening ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        ticket: TicketEvent,
        policy: Policy,
        workflow_id: str,
        now: datetime,
        rule: RuleMatch | None = None,
        *,
        effects: bool = True,
    ) -> Case:
        found = anomalies(ticket, policy)
        severity = opening_severity(ticket, policy, found)
        state = CaseState(
            case_id=case_id_of(workflow_id),  # the case key, with its generation if any
            workflow_id=workflow_id,
            policy=policy,
            ticket=ticket,
            severity=severity,
            step=Step.ACKNOWLEDGE,
            opened_at=now,
            clock=StepClock(budget=policy.deadlines(severity).acknowledge.total_seconds(), segment_start=now),
            last_customer_message_at=now,
            # A case we opened from an order or payment event has no contact from the customer yet:
            # their first ticket about it is contact 1.
            contact_count=0 if ticket.source == PROACTIVE_SOURCE else 1,
        )
        case = cls(state, effects=effects)
        order = ticket.order
        event = case._event(
            "opened",
            now,
            ENGINE,
            source=ticket.source,
            ticket_id=ticket.ticket_id,
            event_id=ticket.event_id,
            subject=ticket.subject,
            severity=severity.value,
            customer_id=ticket.customer.id,
            order_id=order.id if order else None,
            policy=f"{policy.name}@{policy.version}",
            anomalies=found,
            **({"rule": rule.model_dump(mode="json")} if rule is not None else {}),
        )
        case._notify(
            event,
            "internal",
            policy.assignee_role,
            "new_case",
            subject=ticket.subject,
            severity=severity.value,
            due=case._format(case._due_at(state.clock.budget)),
        )
        return case

    # ---- queries ---------------------------------------------------------------------------

    def status(self, now: datetime) -> CaseStatus:
        s = self.state
        escalation = self.policy.escalation
        return CaseStatus(
            case_id=s.case_id,
            workflow_id=s.workflow_id,
            step=s.step,
            severity=s.severity,
            escalation_level=s.escalation_level,
            escalation_role=escalation.role(s.escalation_level),
            contact_count=s.contact_count,
            paused=s.paused,
            pause_reason=s.pause_reason,
            deadlines=self._deadlines(now),
            compensation=[c for c in s.compensations if c.status == "issued"],
            pending_compensation=self.pending_compensation,
            offer=s.offer,
            customer_id=s.ticket.customer.id,
            ticket_source=s.ticket.source,
            subject=s.ticket.subject,
            opened_at=s.opened_at,
            closed_at=s.closed_at,
            root_cause=s.root_cause,
            policy=f"{s.policy.name}@{s.policy.version}",
            last_event_seq=s.seq,
            assignee=s.assignee,
            accepts=self.accepted_steps(),
            customer_name=s.ticket.customer.name,
            order_id=s.ticket.order.id if s.ticket.order else None,
            ticket_id=s.ticket.ticket_id,
            ticket_url=s.ticket.url,
        )

    def accepted_steps(self) -> list[str]:
        """The agents' updates the engine would accept now, found by running each step's own check on
        a probe input: a refusal about the case's state (order, pause, closed, pending, not ready) leaves
        the step out; one about the probe itself (who it is, what it asks) does not."""
        probe = Actor(id="probe-agent", role="probe")
        checks: dict[str, Callable[[], None]] = {
            "acknowledge": lambda: self.check_acknowledge(AcknowledgeInput(actor=probe)),
            "record_fix": lambda: self.check_record_fix(FixInput(actor=probe, description="probe")),
            "compensate": lambda: self.check_compensate(
                CompensateInput(actor=probe, kind=CompensationKind.NONE, reason="probe"), self.state.opened_at
            ),
            "offer": lambda: self.check_offer(
                OfferInput(
                    actor=probe,
                    options=[RemedyOption(kind=CompensationKind.UPGRADE), RemedyOption(kind=CompensationKind.GIFT)],
                ),
                self.state.opened_at,
            ),
            "approve_compensation": lambda: self.check_approval(ApprovalInput(actor=probe, approve=False)),
            "complete_follow_up": lambda: self.check_follow_up(
                FollowUpInput(actor=probe, outcome=FollowUpOutcome.SATISFIED)
            ),
            "close": lambda: self.check_close(
                CloseInput(actor=probe, root_cause=self.policy.root_causes[0], note="probe")
            ),
            "pause": lambda: self.check_pause(PauseInput(actor=probe, reason="probe")),
            "resume": lambda: self.check_resume(ResumeInput(actor=probe)),
            "assign": lambda: self._require_open("assign"),
        }
        accepted = []
        for name, check in checks.items():
            try:
                check()
            except Rejection as rejection:
                if rejection.code not in ("forbidden", "invalid"):
                    continue
            accepted.append(name)
        return accepted

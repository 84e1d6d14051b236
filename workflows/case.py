"""The complaint's step machine: pure, deterministic, free of Temporal.

The workflow feeds it validated inputs and the current time (`workflow.now()`); the machine
records domain events, moves deadlines, and queues effects (notifications, compensation to issue)
in an outbox that the workflow drains through activities. Because all of it is plain data, the
whole state survives continue-as-new and the rules can be tested without a server.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from workflows.models import (
    ENGINE,
    AcknowledgeInput,
    Actor,
    ApplyPolicyInput,
    ApprovalInput,
    AssignInput,
    CaseStatus,
    ChangeSeverityInput,
    CloseInput,
    CompensateInput,
    Compensation,
    CompensationKind,
    ContactResult,
    CustomerMessageInput,
    Deadlines,
    DomainEvent,
    Effect,
    FixInput,
    FollowUpInput,
    FollowUpOutcome,
    IgnoredEventInput,
    IssueInstruction,
    Notification,
    NotifyContext,
    PauseInput,
    ResumeInput,
    TicketEvent,
    case_id_of,
)
from workflows.policy import Clock, Policy, Severity, Step, format_duration, next_step
from workflows.rules import RuleMatch
from workflows.triage import anomalies, opening_severity

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


RejectionCode = Literal["out_of_order", "closed", "forbidden", "invalid", "conflict", "not_ready"]


class Rejection(Exception):
    """A step that may not happen now. `code` tells callers how to answer (409, 403, 422...)."""

    def __init__(self, code: RejectionCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


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


@dataclass(frozen=True)
class Wakeup:
    at: datetime
    summary: str


def format_moment(moment: datetime, policy: Policy) -> str:
    """A customer-readable time in the policy calendar's zone, e.g. `Mon 23 Nov 2026 10:30 EST`."""
    return moment.astimezone(policy.calendar.zone).strftime("%a %d %b %Y %H:%M %Z")


def assignment_refusal(policy: Policy, owner: str | None, actor: Actor, assignee: str) -> Rejection | None:
    """Why `actor` may not make `assignee` the owner of a case owned by `owner` (None: they may).
    Anyone who works cases may claim or assign an unowned case; an owned one is handed on by its owner
    or by a lead (a role that approves compensation). Pages use it to offer only what would pass."""
    role = policy.role(actor.role)
    if role is None:
        return Rejection("forbidden", f"role {actor.role!r} may not assign cases")
    if assignee == owner:
        return Rejection("conflict", f"the case is already assigned to {assignee}")
    if owner is not None and owner != actor.id and not role.approves_up_to:
        return Rejection("forbidden", f"the case belongs to {owner}: only they or a lead may reassign it")
    return None


class Case:
    def __init__(self, state: CaseState, *, effects: bool = True):
        self.state = state
        self.effects = effects
        """False for the policy simulator: no notifications or compensation to do, only events."""
        self._clocks: dict[Severity, Clock] = {}
        self._clocks_of: Policy | None = None

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
            contact_count=1,
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

    @property
    def closed(self) -> bool:
        return self.state.step is Step.CLOSED

    @property
    def policy(self) -> Policy:
        return self.state.policy

    @property
    def pending_compensation(self) -> Compensation | None:
        for comp in self.state.compensations:
            if comp.status in ("pending_approval", "issuing", "outcome_unknown"):
                return comp
        return None

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

    def _deadlines(self, now: datetime) -> Deadlines:
        s = self.state
        clock_kind = self.policy.deadlines(s.severity).clock
        if self.closed:
            return Deadlines(
                step=s.step,
                due_at=None,
                remaining_seconds=None,
                clock=clock_kind,
                next_escalation_at=None,
                next_warning_at=None,
            )
        warning = self._next_warning()
        return Deadlines(
            step=s.step,
            due_at=self._due_at(s.clock.budget),
            remaining_seconds=round(s.clock.budget - self._consumed(now), 3),
            clock=clock_kind,
            next_escalation_at=self._due_at(self._next_escalation_threshold())
            if self._ladder_active() and self._can_climb()
            else None,
            next_warning_at=self._due_at(warning * s.clock.budget) if warning is not None else None,
            follow_up_asked=s.clock.follow_up_asked,
        )

    def due_at(self) -> datetime | None:
        """When the current step is due; None while paused or closed."""
        return None if self.closed else self._due_at(self.state.clock.budget)

    def follow_up_answer_due(self) -> datetime | None:
        """Before the follow-up question goes out: when the customer's answer will be due, the question
        asked on time (the tick asks at the moment it was due, so this is the deadline after asking)."""
        s = self.state
        if s.step is not Step.FOLLOW_UP or s.clock.follow_up_asked:
            return None
        ask = self._due_at(s.clock.budget)
        return None if ask is None else self._clock().add(ask, s.clock.budget)

    def next_wakeup(self) -> Wakeup | None:
        """The next moment a timer must wake the workflow, and why (the timer's summary)."""
        s = self.state
        if self.closed:
            return None
        escalation = self.policy.escalation
        step = s.step.value
        candidates: list[Wakeup] = []
        if s.paused and (left := self._pause_left()) is not None:
            assert s.pause_counted_from is not None
            candidates.append(
                Wakeup(
                    at=self._clock().add(s.pause_counted_from, max(left, 0.0)), summary="pause budget used up: resume"
                )
            )
        if not s.paused:
            if self._ladder_active():
                warning = self._next_warning()
                if warning is not None:
                    candidates.append(
                        Wakeup(
                            at=self._due_at(warning * s.clock.budget), summary=f"{step}: {int(warning * 100)}% warning"
                        )
                    )
                if self._can_climb():
                    role = escalation.role(s.escalation_level + 1)
                    candidates.append(
                        Wakeup(
                            at=self._due_at(self._next_escalation_threshold()), summary=f"{step}: escalate to {role}"
                        )
                    )
                if not s.clock.deadline_missed:
                    # At the top of the ladder no escalation timer marks the deadline: this one does.
                    candidates.append(Wakeup(at=self._due_at(s.clock.budget), summary=f"{step}: deadline"))
            elif s.step is Step.FOLLOW_UP:
                candidates.append(Wakeup(at=self._due_at(s.clock.budget), summary="follow-up: ask the customer"))
        if not s.age_ceiling_reached:
            candidates.append(Wakeup(at=s.opened_at + escalation.age_ceiling, summary="age ceiling"))
        candidates.append(Wakeup(at=self._silence_due(), summary="max silence: status update"))
        for comp in s.compensations:
            if comp.status == "outcome_unknown" and comp.recheck_at is not None:
                candidates.append(Wakeup(at=comp.recheck_at, summary="recheck compensation outcome"))
        return min(candidates, key=lambda w: w.at)

    def _silence_due(self) -> datetime:
        s = self.state
        due = s.last_customer_message_at + self.policy.escalation.max_silence
        if s.last_silence_update_at is not None:
            due = max(due, s.last_silence_update_at + min(self.policy.escalation.max_silence, SILENCE_RETRY))
        return due

    # ---- time ------------------------------------------------------------------------------

    def tick(self, now: datetime) -> None:
        """Fire everything whose time has come: warnings, escalations, follow-up, ceiling, silence."""
        s = self.state
        if self.closed:
            return
        escalation = self.policy.escalation
        if s.paused and (left := self._pause_left(now)) is not None and left <= _EPSILON:
            self._pause_budget_used_up(now)
        if not s.paused and s.step is Step.FOLLOW_UP and not s.clock.follow_up_asked:
            if self._consumed(now) + _EPSILON >= s.clock.budget:
                self._ask_follow_up(now)
        if not s.paused and self._ladder_active():
            consumed = self._consumed(now) + _EPSILON
            if consumed >= s.clock.budget:
                s.clock.fired_warnings = list(escalation.warnings)
            for fraction in escalation.warnings:
                if fraction not in s.clock.fired_warnings and consumed >= fraction * s.clock.budget:
                    s.clock.fired_warnings.append(fraction)
                    due = self._due_at(s.clock.budget)
                    assert due is not None
                    event = self._event(
                        "warning", now, ENGINE, step=s.step.value, fraction=fraction, due_at=due.isoformat()
                    )
                    self._notify(
                        event,
                        "internal",
                        self._owner_or_role(),
                        "warning",
                        step=s.step.value,
                        percent=str(int(fraction * 100)),
                        due=self._format(due),
                    )
            if consumed >= s.clock.budget and not s.clock.deadline_missed:
                # A breach is its own event, whatever the escalation level: reports count these.
                s.clock.deadline_missed = True
                due = self._due_at(s.clock.budget)
                self._event(
                    "deadline_missed",
                    now,
                    ENGINE,
                    step=s.step.value,
                    severity=s.severity.value,
                    due_at=due.isoformat() if due else None,
                    level=s.escalation_level,
                )
            while self._can_climb() and consumed >= self._next_escalation_threshold():
                s.clock.escalations += 1
                reason = "deadline missed" if s.clock.escalations == 1 else "step still open"
                self._escalate(now, s.escalation_level + 1, reason)
        if not s.age_ceiling_reached and now + timedelta(seconds=_EPSILON) >= s.opened_at + escalation.age_ceiling:
            s.age_ceiling_reached = True
            if s.escalation_level < len(escalation.ladder):
                self._escalate(now, len(escalation.ladder), "age ceiling reached")
        if now + timedelta(seconds=_EPSILON) >= self._silence_due():
            s.last_silence_update_at = now
            event = self._event("customer_updated", now, ENGINE, step=s.step.value, reason="max silence")
            self._notify_customer(event, "status_update", step=s.step.value.replace("_", " "))
        for comp in s.compensations:
            if (
                comp.status == "outcome_unknown"
                and comp.recheck_at is not None
                and now + timedelta(seconds=_EPSILON) >= comp.recheck_at
            ):
                comp.recheck_at = None  # the same key again: the activity looks the payment up first
                self._issue(comp, comp.seq)

    # ---- agents' steps: check_* raise Rejection, the others apply ---------------------------

    def check_acknowledge(self, inp: AcknowledgeInput) -> None:
        self._require_step(Step.ACKNOWLEDGE, "acknowledge")

    def acknowledge(self, inp: AcknowledgeInput, now: datetime) -> None:
        self.check_acknowledge(inp)
        event = self._event("acknowledged", now, inp.actor, message=inp.message)
        self._advance(now)
        self._notify_customer(
            event, "acknowledgement", message=inp.message, fix_due=self._format(self._due_at(self.state.clock.budget))
        )

    def check_record_fix(self, inp: FixInput) -> None:
        self._require_step(Step.FIX, "record a fix")

    def record_fix(self, inp: FixInput, now: datetime) -> None:
        self.check_record_fix(inp)
        event = self._event("fix_recorded", now, inp.actor, description=inp.description)
        self._advance(now)
        self._notify_customer(event, "fix_notice", description=inp.description)

    def check_compensate(self, inp: CompensateInput, now: datetime) -> None:
        self._require_step(Step.COMPENSATE, "compensate")
        pending = self.pending_compensation
        if pending is not None and pending.status == "outcome_unknown":
            raise Rejection(
                "conflict",
                f"a {pending.kind.value} of {pending.amount} has an unknown outcome "
                "(checking with the payment provider); nothing new is issued until it is resolved",
            )
        if pending is not None:
            raise Rejection(
                "conflict", f"a {pending.kind.value} of {pending.amount} is already {pending.status.replace('_', ' ')}"
            )
        if self.policy.role(inp.actor.role) is None:
            raise Rejection("forbidden", f"role {inp.actor.role!r} may not compensate")
        if inp.amount is not None:
            cap = self.policy.compensation.customer_cap.get(inp.amount.currency)
            if cap is not None:
                total = self._granted_total(inp.amount.currency, now)
                if total + inp.amount.amount > cap:
                    raise Rejection(
                        "forbidden",
                        f"{inp.amount} would take this customer's compensation to "
                        f"{total + inp.amount.amount} {inp.amount.currency}, above the cap of {cap}",
                    )

    def compensate(self, inp: CompensateInput, now: datetime) -> Compensation:
        self.check_compensate(inp, now)
        amount = inp.amount.amount if inp.amount else Decimal(0)
        limit = self.policy.limit_of(inp.actor.role, inp.amount.currency) if inp.amount else Decimal(0)
        needs_approval = amount > limit
        event = self._event(
            "compensation_proposed",
            now,
            inp.actor,
            kind=inp.kind.value,
            amount=str(inp.amount) if inp.amount else None,
            reason=inp.reason,
            reference=inp.reference,
            needs_approval=needs_approval,
            authority=f"{limit} {inp.amount.currency}" if inp.amount else None,
        )
        comp = Compensation(
            seq=event.seq,
            kind=inp.kind,
            amount=inp.amount,
            reason=inp.reason,
            proposed_by=inp.actor,
            reference=inp.reference,
            agent_issued=inp.reference is not None,
            status="pending_approval" if needs_approval else "issuing",
        )
        self.state.compensations.append(comp)
        if needs_approval:
            self._notify(
                event,
                "internal",
                "approvers",
                "approval_needed",
                kind=inp.kind.value,
                amount=str(inp.amount),
                agent=inp.actor.id,
            )
        else:
            self._issue(comp, event.seq)
        return comp

    def check_approval(self, inp: ApprovalInput) -> None:
        self._require_step(Step.COMPENSATE, "approve compensation")
        pending = self.pending_compensation
        if pending is None or pending.status != "pending_approval":
            raise Rejection("out_of_order", "no compensation is waiting for approval (current step: compensate)")
        if inp.actor.id == pending.proposed_by.id:
            raise Rejection("forbidden", "self-approval: a different person must approve this compensation")
        assert pending.amount is not None
        ceiling = self.policy.approval_limit_of(inp.actor.role, pending.amount.currency)
        if ceiling is None:
            raise Rejection("forbidden", f"role {inp.actor.role!r} may not approve compensation")
        if inp.approve and pending.amount.amount > ceiling:
            raise Rejection(
                "forbidden",
                f"{pending.amount} is above what role {inp.actor.role!r} may approve "
                f"({ceiling} {pending.amount.currency})",
            )

    def decide_approval(self, inp: ApprovalInput, now: datetime) -> Compensation:
        self.check_approval(inp)
        comp = self.pending_compensation
        assert comp is not None
        if inp.approve:
            comp.approved_by = inp.actor
            comp.status = "issuing"
            event = self._event("compensation_approved", now, inp.actor, proposal=comp.seq, note=inp.note)
            self._issue(comp, event.seq)
        else:
            comp.status = "rejected"
            event = self._event("compensation_rejected", now, inp.actor, proposal=comp.seq, note=inp.note)
            self._notify(
                event,
                "internal",
                comp.proposed_by.id,
                "approval_rejected",
                amount=str(comp.amount),
                approver=inp.actor.id,
                note=inp.note,
            )
        return comp

    def compensation_issued(self, comp_seq: int, reference: str, now: datetime, code: str | None = None) -> None:
        """Issued; `code` is what the customer redeems (a coupon or gift card code), shown to them."""
        comp = self._compensation(comp_seq)
        comp.status, comp.reference, comp.issued_at, comp.code = "issued", reference, now, code
        event = self._event(
            "compensation_issued",
            now,
            comp.approved_by or comp.proposed_by,
            proposal=comp.seq,
            kind=comp.kind.value,
            amount=str(comp.amount) if comp.amount else None,
            value=str(comp.amount.amount) if comp.amount else None,
            currency=comp.amount.currency if comp.amount else None,
            reference=reference,
            agent_issued=comp.agent_issued,
            **({"code": code} if code else {}),
        )
        self._advance(now)
        if comp.kind is not CompensationKind.NONE:
            self._notify_customer(
                event,
                "compensation_notice",
                kind=comp.kind.value,
                amount=str(comp.amount) if comp.amount else "",
                code_text=f" Your code: {code}." if code else "",
                follow_up_due=self._format(self._due_at(self.state.clock.budget)),
            )

    def compensation_unknown(self, comp_seq: int, reason: str, now: datetime) -> None:
        """Issuing gave up without a definite answer: the money may have left. Never re-proposed
        under a new key; the same key is re-checked (looked up at the provider first) until resolved."""
        comp = self._compensation(comp_seq)
        first = comp.status != "outcome_unknown"
        comp.status = "outcome_unknown"
        comp.checks += 1
        wait = min(RECHECK_FIRST * 2 ** (comp.checks - 1), RECHECK_MAX)
        comp.recheck_at = now + wait
        if first:  # one event and one escalation; the re-checks themselves add nothing to the history
            self._event(
                "compensation_outcome_unknown",
                now,
                ENGINE,
                proposal=comp.seq,
                reason=reason,
                recheck_at=comp.recheck_at.isoformat(),
            )
            self._escalate(now, self.state.escalation_level + 1, "compensation outcome unknown")

    def compensation_failed(self, comp_seq: int, reason: str, now: datetime) -> None:
        comp = self._compensation(comp_seq)
        comp.status = "failed"
        self._event("compensation_failed", now, ENGINE, proposal=comp.seq, reason=reason)
        self._escalate(now, self.state.escalation_level + 1, "compensation failed")

    def check_follow_up(self, inp: FollowUpInput) -> None:
        self._require_step(Step.FOLLOW_UP, "complete the follow-up")
        if not self.state.clock.follow_up_asked:
            due = self._due_at(self.state.clock.budget)
            when = f"it is due at {due.isoformat()}" if due else "the case is paused"
            raise Rejection("not_ready", f"the customer has not been asked yet ({when})")

    def complete_follow_up(self, inp: FollowUpInput, now: datetime) -> None:
        self.check_follow_up(inp)
        self._event("follow_up_done", now, inp.actor, outcome=inp.outcome.value, csat=inp.csat, note=inp.note)
        if inp.outcome is FollowUpOutcome.UNSATISFIED:
            event = self._event("reopened", now, inp.actor, step=Step.FIX.value, reason="customer unsatisfied")
            self._start_step(Step.FIX, now)
            self._notify(event, "internal", self.policy.assignee_role, "reopened", note=inp.note)
        else:
            self._advance(now)

    def check_close(self, inp: CloseInput) -> None:
        self._require_step(Step.CLOSE, "close")
        if inp.root_cause not in self.policy.root_causes:
            raise Rejection(
                "invalid", f"unknown root cause {inp.root_cause!r}; one of: {', '.join(self.policy.root_causes)}"
            )

    def close(self, inp: CloseInput, now: datetime) -> None:
        self.check_close(inp)
        self._event("closed", now, inp.actor, root_cause=inp.root_cause, note=inp.note)
        self.state.root_cause, self.state.closed_at = inp.root_cause, now
        self._advance(now)

    def check_pause(self, inp: PauseInput) -> None:
        self._require_open("pause")
        if self.state.paused:
            raise Rejection("conflict", f"the case is already paused ({self.state.pause_reason})")
        left = self._pause_left()
        if left is not None and left <= _EPSILON:
            limit = self._max_pause()
            assert limit is not None
            raise Rejection(
                "conflict",
                f"cannot pause: the pause budget is used up (paused "
                f"{format_duration(timedelta(seconds=round(self.state.pause_used)))} of "
                f"{format_duration(limit)} allowed at severity {self.state.severity.value}, "
                f"counted in {self._clock_kind()} time)",
            )

    def pause(self, inp: PauseInput, now: datetime) -> None:
        self.check_pause(inp)
        s = self.state
        self._settle(now)
        s.clock.segment_start, s.paused, s.pause_reason, s.paused_at = None, True, inp.reason, now
        s.pause_counted_from = now
        left = self._pause_left()
        self._event(
            "paused",
            now,
            inp.actor,
            step=s.step.value,
            reason=inp.reason,
            remaining_seconds=round(s.clock.budget - s.clock.consumed, 3),
            **({"pause_left_seconds": round(left, 3)} if left is not None else {}),
        )

    def check_resume(self, inp: ResumeInput) -> None:
        self._require_open("resume")
        if not self.state.paused:
            raise Rejection("conflict", "the case is not paused")

    def resume(self, inp: ResumeInput, now: datetime) -> None:
        self.check_resume(inp)
        self._end_pause(now, inp.actor, inp.note)

    def _end_pause(self, now: datetime, actor: Actor, note: str, **extra: Any) -> DomainEvent:
        s = self.state
        paused_for = (now - s.paused_at).total_seconds() if s.paused_at else 0.0
        self._settle_pause(now)
        s.clock.segment_start, s.paused, s.pause_reason, s.paused_at = now, False, None, None
        s.pause_counted_from = None
        due = self._due_at(s.clock.budget)
        return self._event(
            "resumed",
            now,
            actor,
            step=s.step.value,
            paused_seconds=round(paused_for, 3),
            pause_used_seconds=round(s.pause_used, 3),
            due_at=due.isoformat() if due else None,
            note=note,
            **extra,
        )

    def _pause_budget_used_up(self, now: datetime) -> None:
        limit = self._max_pause()
        assert limit is not None
        note = f"pause budget of {format_duration(limit)} used up"
        event = self._end_pause(now, ENGINE, note, reason="pause budget used up")
        due = self._due_at(self.state.clock.budget)
        self._notify(
            event,
            "internal",
            self.policy.assignee_role,
            "pause_ended",
            budget=format_duration(limit),
            step=self.state.step.value,
            due=self._format(due) if due else "",
        )

    def _max_pause(self) -> timedelta | None:
        return self.policy.deadlines(self.state.severity).max_pause

    def _pause_used(self, now: datetime | None = None) -> float:
        s = self.state
        if now is None or s.pause_counted_from is None:
            return s.pause_used
        return s.pause_used + self._clock().elapsed(s.pause_counted_from, now)

    def _pause_left(self, now: datetime | None = None) -> float | None:
        """Pause budget left (severity clock seconds) at `now` (default: up to the last fold)."""
        limit = self._max_pause()
        if limit is None:
            return None
        return limit.total_seconds() - self._pause_used(now)

    def _settle_pause(self, now: datetime) -> None:
        """Fold the running pause into `pause_used`, so the clock it is counted in can change."""
        s = self.state
        if s.paused and s.pause_counted_from is not None:
            s.pause_used = self._pause_used(now)
            s.pause_counted_from = now

    def _format(self, moment: datetime | None) -> str:
        """A moment for people, in the zone of the current severity's calendar."""
        if moment is None:
            return ""
        if not self.effects:
            return ""  # nobody reads it: the simulator sends no messages
        return moment.astimezone(self.policy.zone(self.state.severity)).strftime("%a %d %b %Y %H:%M %Z")

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

    def check_assign(self, inp: AssignInput) -> None:
        self._require_open("assign")
        refusal = assignment_refusal(self.policy, self.state.assignee, inp.actor, inp.assignee)
        if refusal is not None:
            raise refusal

    def assign(self, inp: AssignInput, now: datetime) -> None:
        self.check_assign(inp)
        s = self.state
        previous, s.assignee = s.assignee, inp.assignee
        kind = (
            "claimed"
            if inp.assignee == inp.actor.id and previous is None
            else ("assigned" if previous is None else "reassigned")
        )
        event = self._event(
            "assigned", now, inp.actor, assignee=inp.assignee, previous=previous, how=kind, note=inp.note
        )
        if inp.assignee != inp.actor.id:
            self._notify(
                event, "internal", inp.assignee, "assigned", agent=inp.actor.id, step=s.step.value, note=inp.note
            )

    def check_change_severity(self, inp: ChangeSeverityInput) -> None:
        self._require_open("change severity")
        if inp.severity is self.state.severity:
            raise Rejection("conflict", f"the severity is already {inp.severity.value}")

    def change_severity(self, inp: ChangeSeverityInput, now: datetime) -> None:
        self.check_change_severity(inp)
        self._set_severity(inp.severity, now, inp.actor, inp.reason)

    def check_apply_policy(self, inp: ApplyPolicyInput) -> None:
        self._require_open("apply a policy")

    def check_may_apply_policy(self, inp: ApplyPolicyInput) -> None:
        """Who may move the case: a role the case's current policy allows. Checked by the update's
        validator only (validators don't run on replay, so cases moved before this rule replay)."""
        allowed = self.policy.apply_policy_roles
        if inp.actor.role not in allowed:
            raise Rejection(
                "forbidden",
                f"role {inp.actor.role!r} may not apply a policy to this case "
                f"(policy {self.policy.name}@{self.policy.version} allows: {', '.join(allowed) or 'nobody'})",
            )

    def apply_policy(self, inp: ApplyPolicyInput, now: datetime) -> None:
        self.check_apply_policy(inp)
        s = self.state
        self._settle(now)
        self._settle_pause(now)
        old = f"{s.policy.name}@{s.policy.version}"
        s.policy = inp.policy
        s.clock.budget = self._budget(s.step)
        self._event("policy_applied", now, inp.actor, previous=old, policy=f"{inp.policy.name}@{inp.policy.version}")

    def has_seen(self, event_id: str) -> bool:
        """Whether this case already has the ticket event `event_id` (within the de-duplication window)."""
        s = self.state
        return event_id == s.ticket.event_id or event_digest(event_id) in s.seen_event_digests

    def _first_sight(self, event_id: str) -> bool:
        """Remember the ticket event `event_id`; False when the case had it already (within the window)."""
        s = self.state
        if self.has_seen(event_id):
            return False
        s.seen_event_digests = [*s.seen_event_digests[-(SEEN_WINDOW - 1) :], event_digest(event_id)]
        return True

    def check_add_contact(self, ticket: TicketEvent) -> None:
        if self.closed and not self.has_seen(ticket.event_id):
            # Not a duplicate: a new complaint, which belongs to the next generation of this case.
            raise Rejection("closed", "the case is closed; a new complaint opens the next generation")

    def add_contact(self, ticket: TicketEvent, now: datetime) -> ContactResult:
        """A ticket event about this case. A repeated event id changes nothing."""
        s = self.state
        if ticket.event_id == s.ticket.event_id and not s.opening_reported:
            s.opening_reported = True
            return self.contact_result(created=True, duplicate=False)
        if self.has_seen(ticket.event_id):
            return self.contact_result(created=False, duplicate=True)
        self.check_add_contact(ticket)
        self._first_sight(ticket.event_id)
        s.contact_count += 1
        event = self._event(
            "contact_added",
            now,
            ENGINE,
            source=ticket.source,
            ticket_id=ticket.ticket_id,
            event_id=ticket.event_id,
            subject=ticket.subject,
            contact_count=s.contact_count,
        )
        self._repeat_contact(event, now, ticket.subject)
        return self.contact_result(created=False, duplicate=False)

    def check_customer_message(self, inp: CustomerMessageInput) -> None:
        self._require_open("record a customer message")

    def customer_message(self, inp: CustomerMessageInput, now: datetime) -> bool:
        """The customer replied on the ticket: always in the timeline; resumes a paused case (the
        reply it was waiting for, so it is no repeat contact); otherwise it counts as a contact.
        False when the event id was seen before (nothing changes)."""
        self.check_customer_message(inp)
        s = self.state
        if not self._first_sight(inp.event_id):
            return False
        awaited = s.paused
        if not awaited:
            s.contact_count += 1
        event = self._event(
            "customer_replied",
            now,
            Actor(id="customer", role="customer"),
            source=inp.source,
            event_id=inp.event_id,
            text=inp.text,
            counted=not awaited,
            contact_count=s.contact_count,
        )
        if awaited and inp.resume:
            self.resume(ResumeInput(actor=Actor(id="customer", role="customer"), note="the customer replied"), now)
        elif not awaited:
            self._repeat_contact(event, now, s.ticket.subject)
        return True

    def record_ignored(self, inp: IgnoredEventInput, now: datetime) -> None:
        if not self._first_sight(inp.event_id):
            return
        self._event(
            "ticket_event_ignored",
            now,
            ENGINE,
            source=inp.source,
            event_id=inp.event_id,
            rule=inp.rule,
            step=inp.step,
            reason=inp.reason,
        )

    def _repeat_contact(self, event: DomainEvent, now: datetime, subject: str) -> None:
        s = self.state
        queued = self._unsent_repeat_contact()
        if queued is not None and queued.notification is not None:
            # A burst of contacts is one message to the assignee, not one each ("contact #5–14").
            queued.notification.params["count"] = f"{queued.notification.params['first']}–{s.contact_count}"
        else:
            self._notify(
                event,
                "internal",
                self._owner_or_role(),
                "repeat_contact",
                count=str(s.contact_count),
                first=str(s.contact_count),
                subject=subject,
            )
        if s.contact_count % self.policy.repeat_contacts.raise_after == 0:
            reason = f"{s.contact_count} contacts on this case"
            if s.severity.raised() is not s.severity:
                self._set_severity(s.severity.raised(), now, ENGINE, reason)
            if s.escalation_level < len(self.policy.escalation.ladder):
                self._escalate(now, s.escalation_level + 1, reason)

    def _unsent_repeat_contact(self) -> Effect | None:
        for effect in self.state.outbox:
            note = effect.notification
            if note is not None and note.template == "repeat_contact" and not effect.started and "first" in note.params:
                return effect
        return None

    def contact_result(self, *, created: bool, duplicate: bool) -> ContactResult:
        s = self.state
        return ContactResult(
            case_id=s.case_id,
            workflow_id=s.workflow_id,
            created=created,
            duplicate=duplicate,
            contact_count=s.contact_count,
        )

    # ---- effects done by the workflow ------------------------------------------------------

    def take_effect(self) -> Effect | None:
        return self.state.outbox[0] if self.state.outbox else None

    def effect_done(self, effect: Effect) -> None:
        self.state.outbox = [e for e in self.state.outbox if e.key != effect.key]

    def notification_failed(self, effect: Effect, reason: str, now: datetime) -> None:
        assert effect.notification is not None
        self._event(
            "notification_failed",
            now,
            ENGINE,
            template=effect.notification.template,
            recipient=effect.notification.recipient,
            key=effect.key,
            reason=reason,
        )

    def notification_delivered(
        self,
        effect: Effect,
        now: datetime,
        reached: list[str] | None = None,
        failed: list[tuple[str, str]] | None = None,
        unreachable: list[str] | None = None,
        skipped: list[str] | None = None,
        *,
        record: bool = True,
    ) -> None:
        """A notification went out. `reached`: who it reached, over which channels (None: nothing
        was planned for it, no channel configured: it counts as sent); each channel that failed (and
        why); each person who could not be reached on any channel (the next one was tried); people
        left out (quiet hours). `record` False: nothing to put in the timeline. The silence clock
        moves when a customer message is delivered, not when it is queued."""
        note = effect.notification
        assert note is not None
        if note.audience == "customer" and (reached is None or reached):
            self.state.last_customer_message_at = max(self.state.last_customer_message_at, now)
        if not record:
            return
        for channel, reason in failed or []:
            self._event(
                "notification_failed",
                now,
                ENGINE,
                template=note.template,
                recipient=note.recipient,
                channel=channel,
                key=effect.key,
                reason=reason,
            )
        for person in unreachable or []:
            self._event(
                "unreachable",
                now,
                ENGINE,
                template=note.template,
                recipient=note.recipient,
                person=person,
                key=effect.key,
            )
        if reached or skipped:
            self._event(
                "notified",
                now,
                ENGINE,
                template=note.template,
                recipient=note.recipient,
                notified=reached,
                skipped=skipped,
                key=effect.key,
            )

    # ---- internals -------------------------------------------------------------------------

    def _event(self, type_: str, now: datetime, actor: Actor, **data: Any) -> DomainEvent:
        s = self.state
        s.seq += 1
        # Built from the machine's own typed values: nothing to validate (and this runs for every event).
        event = DomainEvent.model_construct(seq=s.seq, type=type_, at=now, actor=actor.id, data=data)
        s.events.append(event)
        return event

    def _notify(
        self,
        event: DomainEvent,
        audience: Literal["customer", "internal"],
        recipient: str,
        template: str,
        **params: str,
    ) -> None:
        if not self.effects:
            return
        s = self.state
        index = sum(1 for e in s.outbox if e.event_seq == event.seq)
        key = f"{s.workflow_id}:{event.seq}:{index}"
        base = {"case": s.case_id, "customer": s.ticket.customer.name, "subject": s.ticket.subject}
        settings = self.policy.notifications
        level = int(params.get("level", 0)) if template == "escalation" else 0
        context = NotifyContext(
            at=event.at,
            customer_email=s.ticket.customer.email,
            ticket_source=s.ticket.source,
            ticket_id=s.ticket.ticket_id,
            ticket_url=s.ticket.url,
            channel=settings.channel,
            sender=settings.sender,
            reply_to=settings.reply_to,
            thread=list(s.customer_thread) if audience == "customer" else [],
            severity=s.severity.value,
            level=level,
            top_level=level >= len(self.policy.escalation.ladder),
            overrides={channel: table[template] for channel, table in settings.overrides.items() if template in table},
        )
        s.outbox.append(
            Effect(
                key=key,
                event_seq=event.seq,
                notification=Notification(
                    key=key,
                    case_id=s.case_id,
                    workflow_id=s.workflow_id,
                    audience=audience,
                    recipient=recipient,
                    template=template,
                    params={**base, **{k: str(v) for k, v in params.items()}},
                    context=context,
                ),
            )
        )
        if audience == "customer":
            s.customer_thread.append(key)

    def _notify_customer(self, event: DomainEvent, template: str, **params: str) -> None:
        # The silence clock moves when the message is delivered (`notification_delivered`), not here;
        # without effects (the policy simulator) nothing is delivered: a message counts as sent at once.
        if not self.effects:
            self.state.last_customer_message_at = max(self.state.last_customer_message_at, event.at)
        self._notify(event, "customer", "customer", template, **params)

    def _issue(self, comp: Compensation, event_seq: int) -> None:
        if not self.effects:
            return
        s = self.state
        key = f"{s.workflow_id}:{comp.seq}"
        s.outbox.append(
            Effect(
                key=f"{key}:issue",
                event_seq=event_seq,
                compensation_seq=comp.seq,
                issue=IssueInstruction(
                    key=key,
                    case_id=s.case_id,
                    workflow_id=s.workflow_id,
                    customer_id=s.ticket.customer.id,
                    kind=comp.kind,
                    amount=comp.amount,
                    reason=comp.reason,
                    issued_by=comp.proposed_by,
                    approved_by=comp.approved_by,
                    agent_reference=comp.reference,
                    payment_reference=s.ticket.order.payment_reference if s.ticket.order else None,
                    payment_customer_id=s.ticket.customer.payment_customer_id,
                ),
            )
        )

    def _escalate(self, now: datetime, level: int, reason: str) -> None:
        s = self.state
        top = len(self.policy.escalation.ladder)
        level = min(level, top)
        if level <= s.escalation_level:
            return
        s.escalation_level = level
        role = self.policy.escalation.role(level)
        event = self._event("escalated", now, ENGINE, step=s.step.value, level=level, role=role, reason=reason)
        self._notify(
            event,
            "internal",
            role or "",
            "escalation",
            level=str(level),
            step=s.step.value,
            reason=reason,
            owner=s.assignee or "nobody (unassigned)",
        )

    def _owner_or_role(self) -> str:
        """Who hears about this case's warnings and repeat contacts: its owner, else the assignee role."""
        return self.state.assignee or self.policy.assignee_role

    def _compensation(self, seq: int) -> Compensation:
        return next(c for c in self.state.compensations if c.seq == seq)

    def _granted_total(self, currency: str, now: datetime) -> Decimal:
        """What this case granted the customer in `currency` within the policy's rolling window.
        (The cap across all of a customer's cases is checked against the ledger when issuing.)"""
        since = now - self.policy.compensation.cap_window
        return sum(
            (
                c.amount.amount
                for c in self.state.compensations
                if c.amount
                and c.amount.currency == currency
                and (c.status == "issuing" or (c.status == "issued" and c.issued_at and c.issued_at > since))
            ),
            Decimal(0),
        )

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

    def _budget(self, step: Step) -> float:
        if step is Step.CLOSED:
            return 0.0
        return self.policy.deadlines(self.state.severity).budget(step).total_seconds()

    def _advance(self, now: datetime) -> None:
        self._start_step(next_step(self.state.step), now)

    def _start_step(self, step: Step, now: datetime) -> None:
        s = self.state
        s.step = step
        s.clock = StepClock(budget=self._budget(step), segment_start=None if (s.paused or step is Step.CLOSED) else now)

    def ask_follow_up(self, now: datetime) -> None:
        """Ask the customer now. For the policy simulator: an answer recorded before the candidate
        policy would have asked (the workflow asks only when the follow-up delay has passed)."""
        if self.state.step is Step.FOLLOW_UP and not self.state.clock.follow_up_asked:
            self._ask_follow_up(now)

    def _ask_follow_up(self, now: datetime) -> None:
        s = self.state
        event = self._event("follow_up_asked", now, ENGINE)
        s.clock = StepClock(budget=s.clock.budget, segment_start=now, follow_up_asked=True)
        self._notify_customer(event, "follow_up_request")

    def _set_severity(self, severity: Severity, now: datetime, actor: Actor, reason: str) -> None:
        s = self.state
        self._settle(now)
        self._settle_pause(now)
        previous = s.severity
        s.severity = severity
        s.clock.budget = self._budget(s.step)
        due = self._due_at(s.clock.budget)
        self._event(
            "severity_changed",
            now,
            actor,
            previous=previous.value,
            severity=severity.value,
            reason=reason,
            due_at=due.isoformat() if due else None,
        )

    def _settle(self, now: datetime) -> None:
        """Fold the running segment into `consumed`, so the budget can change or stop."""
        c = self.state.clock
        if c.segment_start is not None:
            c.consumed += self._clock().elapsed(c.segment_start, now)
            c.segment_start = now

    def _consumed(self, now: datetime) -> float:
        c = self.state.clock
        running = self._clock().elapsed(c.segment_start, now) if c.segment_start else 0.0
        return c.consumed + running

    def _due_at(self, threshold: float) -> datetime | None:
        """When the step's spent budget reaches `threshold`; None while the clock is stopped."""
        c = self.state.clock
        if c.segment_start is None:
            return None
        if threshold <= c.consumed:
            return c.segment_start
        return self._clock().add(c.segment_start, threshold - c.consumed)

    def _ladder_active(self) -> bool:
        s = self.state
        if s.step is Step.CLOSED:
            return False
        return s.step is not Step.FOLLOW_UP or s.clock.follow_up_asked

    def _can_climb(self) -> bool:
        return self.state.escalation_level < len(self.policy.escalation.ladder)

    def _next_warning(self) -> float | None:
        c = self.state.clock
        if not self._ladder_active():
            return None
        pending = [f for f in self.policy.escalation.warnings if f not in c.fired_warnings]
        return min(pending) if pending else None

    def _next_escalation_threshold(self) -> float:
        c = self.state.clock
        return c.budget + c.escalations * self.policy.escalation.interval.total_seconds()

"""The agents' steps: acknowledge → fix → (compensate: compensation.py) → follow-up → close, and the
changes beside them: assigning the case, its severity, the policy it runs under. Each `check_*` raises
`Rejection` when the step may not happen now; the step itself checks, then applies."""

from __future__ import annotations

from datetime import datetime

from workflows.case.core import CaseCore, Rejection
from workflows.case.state import StepClock
from workflows.models import (
    AcknowledgeInput,
    Actor,
    ApplyPolicyInput,
    AssignInput,
    ChangeSeverityInput,
    CloseInput,
    FixInput,
    FollowUpInput,
    FollowUpOutcome,
)
from workflows.policy import Policy, Severity, Step, next_step


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


class StepsMixin(CaseCore):
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

    # ---- beside the steps: owner, severity, policy -----------------------------------------

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

    # ---- moving between steps --------------------------------------------------------------

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

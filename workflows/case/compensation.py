"""Compensation: an agent's proposal, within their authority or sent for approval, the customer's
cap, the instruction to issue it (in the outbox), and what issuing came to: issued, failed, or an
outcome unknown that is re-checked under the same key until resolved."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from workflows.case.core import CaseCore, Rejection
from workflows.case.state import RECHECK_FIRST, RECHECK_MAX
from workflows.effects import Effect, IssueInstruction
from workflows.models import ENGINE, ApprovalInput, CompensateInput, Compensation, CompensationKind
from workflows.policy import Step


class CompensationMixin(CaseCore):
    @property
    def pending_compensation(self) -> Compensation | None:
        for comp in self.state.compensations:
            if comp.status in ("pending_approval", "issuing", "outcome_unknown"):
                return comp
        return None

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
        offer = self.state.offer
        if offer is not None and offer.status == "open":
            raise Rejection(
                "conflict",
                f"an offer is waiting for the customer's choice until {offer.choose_by.isoformat()}; "
                "nothing else is issued meanwhile",
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

    # ---- what issuing came to --------------------------------------------------------------

    def compensation_issued(self, comp_seq: int, reference: str, now: datetime, code: str | None = None) -> None:
        """Issued; `code` is what the customer redeems (a coupon or gift card code), shown to them."""
        comp = self._compensation(comp_seq)
        comp.status, comp.reference, comp.issued_at, comp.code = "issued", reference, now, code
        # A remedy from an offer is the customer's step: theirs is the actor (pre-approved by the agent).
        actor = comp.proposed_by if comp.offer is not None else comp.approved_by or comp.proposed_by
        event = self._event(
            "compensation_issued",
            now,
            actor,
            proposal=comp.seq,
            kind=comp.kind.value,
            amount=str(comp.amount) if comp.amount else None,
            value=str(comp.amount.amount) if comp.amount else None,
            currency=comp.amount.currency if comp.amount else None,
            reference=reference,
            agent_issued=comp.agent_issued,
            **({"code": code} if code else {}),
            **({"offer": comp.offer} if comp.offer is not None else {}),
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

    # ---- internals -------------------------------------------------------------------------

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

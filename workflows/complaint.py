"""ComplaintWorkflow: one durable workflow per complaint, enforcing
acknowledge → fix → compensate → follow-up → close with deadlines and an escalation ladder.

The rules live in the pure step machine (`workflows.case`); this module is the Temporal shell's
class: handlers validate and apply agents' steps through the run's parts (`workflows.shell`: the
gate, the outbox, the projector, the publisher, the timers), which own their state.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.models import (
        AcknowledgeInput,
        ApplyPolicyInput,
        ApprovalInput,
        AssignInput,
        CaseStatus,
        ChangeSeverityInput,
        CloseInput,
        CompensateInput,
        ContactInput,
        ContactResult,
        CustomerMessageInput,
        DomainEvent,
        EraseInput,
        FixInput,
        FollowUpInput,
        IgnoredEventInput,
        OfferInput,
        PauseInput,
        PickInput,
        ResumeInput,
    )
    from workflows.shell.lifecycle import CaseRun
    from workflows.shell.start import CaseStart

__all__ = ["CaseStart", "ComplaintWorkflow"]


# Pinned: a case runs on the build it started on, and moves to a newer one only by continuing as new
# (carrying its CaseState), so no change to this code ever has to replay an older build's history. The
# behaviour is the versioned worker's default (`recovery.versioning`), not set here: the server refuses
# a behaviour from an unversioned worker, and the time-skipping test server has no deployments.
@workflow.defn(name="ComplaintWorkflow")
class ComplaintWorkflow:
    @workflow.init
    def __init__(self, start: CaseStart) -> None:
        # Built here, not in run: the update of update-with-start drains the outbox before run starts.
        self._run = CaseRun(start)
        self.case = self._run.case

    @workflow.run
    async def run(self, start: CaseStart) -> CaseStatus:
        return await self._run.run()

    @workflow.signal(description="No-op: wakes a case pinned to an older build so it moves to the current one now.")
    def nudge(self) -> None:
        self._run.nudge()

    # ---- queries ---------------------------------------------------------------------------

    @workflow.query(
        description="Current step, severity, deadlines, escalation level, contacts, pause and compensation."
    )
    def status(self) -> CaseStatus:
        return self.case.status(workflow.now())

    @workflow.query(
        description="The domain events this run holds, in order (a long case keeps only its recent "
        "ones across continue-as-new; the event store has every one)."
    )
    def timeline(self) -> list[DomainEvent]:
        return list(self.case.state.events)

    @workflow.query(description="Whether this case already has the ticket event with this id (de-duplication).")
    def seen_event(self, event_id: str) -> bool:
        return self.case.has_seen(event_id)

    # ---- agents' steps ---------------------------------------------------------------------

    @workflow.update(
        description="A ticket event about this case: opens it, or adds a repeat contact. "
        "The same event id twice changes nothing."
    )
    async def add_contact(self, inp: ContactInput) -> ContactResult:
        return await self._run.add_contact(inp.ticket)

    @add_contact.validator
    def _validate_add_contact(self, inp: ContactInput) -> None:
        self._run.admit(self.case.check_add_contact, inp.ticket)

    @workflow.update(
        description="The customer replied on the ticket: recorded; resumes a paused case, "
        "else counts as a repeat contact. The same event id twice changes nothing."
    )
    async def customer_message(self, inp: CustomerMessageInput) -> CaseStatus:
        return await self._run.step(self.case.customer_message, inp)

    @customer_message.validator
    def _validate_customer_message(self, inp: CustomerMessageInput) -> None:
        self._run.admit(self.case.check_customer_message, inp)

    @workflow.update(description="Record a ticket event whose rule's step the case refused, with the reason.")
    async def record_ignored(self, inp: IgnoredEventInput) -> CaseStatus:
        return await self._run.step(self.case.record_ignored, inp)

    @workflow.update(description="Acknowledge the complaint and apologise; the customer is told the next promise.")
    async def acknowledge(self, inp: AcknowledgeInput) -> CaseStatus:
        return await self._run.step(self.case.acknowledge, inp)

    @acknowledge.validator
    def _validate_acknowledge(self, inp: AcknowledgeInput) -> None:
        self._run.admit(self.case.check_acknowledge, inp)

    @workflow.update(description="Record the fix for the customer's problem.")
    async def record_fix(self, inp: FixInput) -> CaseStatus:
        return await self._run.step(self.case.record_fix, inp)

    @record_fix.validator
    def _validate_record_fix(self, inp: FixInput) -> None:
        self._run.admit(self.case.check_record_fix, inp)

    @workflow.update(
        description="Propose compensation: issued at once within the agent's authority, "
        "otherwise it waits for approval by someone else."
    )
    async def compensate(self, inp: CompensateInput) -> CaseStatus:
        return await self._run.step(self.case.compensate, inp)

    @compensate.validator
    def _validate_compensate(self, inp: CompensateInput) -> None:
        self._run.admit(lambda: self.case.check_compensate(inp, workflow.now()))

    @workflow.update(
        description="Offer the customer 2-4 remedies, each within the agent's authority and the customer's "
        "cap, with a choice deadline and a default option; the customer's pick is the compensate step."
    )
    async def offer(self, inp: OfferInput) -> CaseStatus:
        return await self._run.step(self.case.offer, inp)

    @offer.validator
    def _validate_offer(self, inp: OfferInput) -> None:
        self._run.admit(lambda: self.case.check_offer(inp, workflow.now()))

    @workflow.update(
        description="The customer picks one option of the open offer (actor customer): issued once, "
        "pre-approved by the offering agent. A second pick, or one after the deadline, is refused."
    )
    async def pick_remedy(self, inp: PickInput) -> CaseStatus:
        return await self._run.step(self.case.pick_remedy, inp)

    @pick_remedy.validator
    def _validate_pick_remedy(self, inp: PickInput) -> None:
        self._run.admit(lambda: self.case.check_pick(inp, workflow.now()))

    @workflow.update(description="Approve or reject the compensation waiting for approval (not one's own).")
    async def approve_compensation(self, inp: ApprovalInput) -> CaseStatus:
        return await self._run.step(self.case.decide_approval, inp)

    @approve_compensation.validator
    def _validate_approval(self, inp: ApprovalInput) -> None:
        self._run.admit(self.case.check_approval, inp)

    @workflow.update(description="Record the customer's answer to the follow-up; unsatisfied reopens the case at fix.")
    async def complete_follow_up(self, inp: FollowUpInput) -> CaseStatus:
        return await self._run.step(self.case.complete_follow_up, inp)

    @complete_follow_up.validator
    def _validate_follow_up(self, inp: FollowUpInput) -> None:
        self._run.admit(self.case.check_follow_up, inp)

    @workflow.update(description="Close the case with a root cause from the policy and a note.")
    async def close(self, inp: CloseInput) -> CaseStatus:
        return await self._run.step(self.case.close, inp)

    @close.validator
    def _validate_close(self, inp: CloseInput) -> None:
        self._run.admit(self.case.check_close, inp)

    @workflow.update(description="Pause while waiting on the customer: deadlines stop, elapsed time is kept.")
    async def pause(self, inp: PauseInput) -> CaseStatus:
        return await self._run.step(self.case.pause, inp)

    @pause.validator
    def _validate_pause(self, inp: PauseInput) -> None:
        self._run.admit(self.case.check_pause, inp)

    @workflow.update(description="Resume a paused case: deadlines run again from where they stopped.")
    async def resume(self, inp: ResumeInput) -> CaseStatus:
        return await self._run.step(self.case.resume, inp)

    @resume.validator
    def _validate_resume(self, inp: ResumeInput) -> None:
        self._run.admit(self.case.check_resume, inp)

    @workflow.update(
        description="Give the case an owner: claim it, assign it to an agent, or (its owner or a lead) "
        "hand it to someone else. Warnings and repeat contacts then go to the owner."
    )
    async def assign(self, inp: AssignInput) -> CaseStatus:
        return await self._run.step(self.case.assign, inp)

    @assign.validator
    def _validate_assign(self, inp: AssignInput) -> None:
        self._run.admit(self.case.check_assign, inp)

    @workflow.update(description="Change the severity: deadlines are recomputed, elapsed time is kept.")
    async def change_severity(self, inp: ChangeSeverityInput) -> CaseStatus:
        return await self._run.step(self.case.change_severity, inp)

    @change_severity.validator
    def _validate_change_severity(self, inp: ChangeSeverityInput) -> None:
        self._run.admit(self.case.check_change_severity, inp)

    @workflow.update(description="Apply a new policy to this in-flight case (new cases get it automatically).")
    async def apply_policy(self, inp: ApplyPolicyInput) -> CaseStatus:
        return await self._run.step(self.case.apply_policy, inp)

    @apply_policy.validator
    def _validate_apply_policy(self, inp: ApplyPolicyInput) -> None:
        self._run.admit(self.case.check_apply_policy, inp)
        self._run.admit(self.case.check_may_apply_policy, inp)

    @workflow.update(
        description="Operators only (`recovery erase-customer`): erase the customer's name, e-mail "
        "address and free texts from the case, keeping ids, amounts and steps; the case continues as new."
    )
    async def erase(self, inp: EraseInput) -> CaseStatus:
        return await self._run.erase(inp)

    @erase.validator
    def _validate_erase(self, inp: EraseInput) -> None:
        self._run.admit(self.case.check_erase, inp)

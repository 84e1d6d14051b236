"""Contacts: ticket events about the case (a repeat contact), the customer's replies, the events the
intake rules ignored — each recorded once, whatever the redeliveries — and what repeated contacts do
(one message to the owner per burst; severity and escalation raised every `raise_after`)."""

from __future__ import annotations

from datetime import datetime

from workflows.case.core import CaseCore, Rejection
from workflows.case.state import SEEN_WINDOW, event_digest
from workflows.effects import Effect
from workflows.models import (
    ENGINE,
    Actor,
    ContactResult,
    CustomerMessageInput,
    DomainEvent,
    IgnoredEventInput,
    ResumeInput,
    TicketEvent,
)


class ContactsMixin(CaseCore):
    # ---- de-duplication --------------------------------------------------------------------

    def has_seen(self, event_id: str) -> bool:
        """Whether this case already has the ticket event `event_id` (within the de-duplication window)."""
        s = self.state
        return event_id == s.ticket.event_id or event_digest(event_id) in s.seen_event_digests

    def _first_sight(self, event_id: str) -> bool:
        """Remember the ticket event `event_id`; False when the case had it already (within the window).
        Every contact goes through here once: the one place a redelivery is told from a new event."""
        s = self.state
        if self.has_seen(event_id):
            return False
        s.seen_event_digests = [*s.seen_event_digests[-(SEEN_WINDOW - 1) :], event_digest(event_id)]
        return True

    # ---- contacts --------------------------------------------------------------------------

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
        self.check_add_contact(ticket)  # a redelivery to a closed case passes: it is a duplicate
        if not self._first_sight(ticket.event_id):
            return self.contact_result(created=False, duplicate=True)
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
        # A reply naming an option of the offer is the customer's choice, not a repeat contact.
        choosing = self._reply_chooses(inp.text)
        counted = not awaited and not choosing
        if counted:
            s.contact_count += 1
        event = self._event(
            "customer_replied",
            now,
            Actor(id="customer", role="customer"),
            source=inp.source,
            event_id=inp.event_id,
            text=inp.text,
            counted=counted,
            contact_count=s.contact_count,
        )
        if choosing:
            self._reply_picks(inp.text, now, inp.source)
        elif awaited and inp.resume:
            self.resume(ResumeInput(actor=Actor(id="customer", role="customer"), note="the customer replied"), now)
        elif counted:
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

    def contact_result(self, *, created: bool, duplicate: bool) -> ContactResult:
        s = self.state
        return ContactResult(
            case_id=s.case_id,
            workflow_id=s.workflow_id,
            created=created,
            duplicate=duplicate,
            contact_count=s.contact_count,
        )

    # ---- repeat contacts -------------------------------------------------------------------

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

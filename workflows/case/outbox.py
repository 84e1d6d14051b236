"""The timeline and the outbox: recording domain events, queueing notifications for the workflow to
deliver, and what the workflow reports back about them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from workflows.case.core import CaseCore
from workflows.effects import Effect, Notification, NotifyContext
from workflows.models import ENGINE, Actor, DomainEvent


class OutboxMixin(CaseCore):
    # ---- effects done by the workflow ------------------------------------------------------

    def take_effect(self) -> Effect | None:
        return self.state.outbox[0] if self.state.outbox else None

    def effect_done(self, effect: Effect) -> None:
        self.state.outbox = [e for e in self.state.outbox if e.key != effect.key]

    def notification_failed(self, effect: Effect, reason: str, now: datetime) -> None:
        assert effect.notification is not None
        event = self._event(
            "notification_failed",
            now,
            ENGINE,
            template=effect.notification.template,
            recipient=effect.notification.recipient,
            key=effect.key,
            reason=reason,
        )
        self._customer_not_reached(effect.notification, event, reason)

    def _customer_not_reached(self, note: Notification, event: DomainEvent, reason: str) -> None:
        """A message to the customer that could not go out at all: its owner hears of it (a status
        update is not told: it is retried at most hourly, the owner would hear every hour)."""
        if note.audience != "customer" or note.template == "status_update":
            return
        self._notify(
            event,
            "internal",
            self._owner_or_role(),
            "customer_not_reached",
            message=note.template.replace("_", " "),
            reason=reason[:200],
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
        last_failure: DomainEvent | None = None
        for channel, reason in failed or []:
            last_failure = self._event(
                "notification_failed",
                now,
                ENGINE,
                template=note.template,
                recipient=note.recipient,
                channel=channel,
                key=effect.key,
                reason=reason,
            )
        if reached == [] and last_failure is not None:  # planned, and no channel reached the customer
            self._customer_not_reached(note, last_failure, (failed or [("", "")])[-1][1])
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

    # ---- recording and queueing ------------------------------------------------------------

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
            # Erased: no address any more, so the customer hears through the ticket only (or not at all).
            channel="ticket" if s.erased_at is not None and audience == "customer" else settings.channel,
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

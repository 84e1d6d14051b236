"""Erasing a customer's data from an open case (`recovery erase-customer`): the name, the e-mail
address and every free text leave the state; ids, amounts, steps and timings stay."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from workflows.case.core import CaseCore, Rejection
from workflows.effects import Effect
from workflows.models import Actor, EraseInput

ERASED = "[erased]"
"""What an erased text reads as."""
ERASER_ROLE = "operator"
"""Only operators erase: the erasure comes from `recovery erase-customer`, never from an agent."""
TEXT_FIELDS = ("subject", "message", "description", "note", "reason", "reference", "text")
"""Event data fields that may carry what a customer or an agent wrote."""
ENGINE_REASONS = frozenset({"escalated", "customer_updated", "reopened"})
"""Events whose `reason` is the engine's own wording (e.g. "deadline missed"): kept."""


def _scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    """`value` with every string that holds one of `secrets` erased (in lists and dicts too)."""
    if isinstance(value, str):
        return ERASED if any(secret in value for secret in secrets) else value
    if isinstance(value, list):
        return [_scrub(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items()}
    return value


def erased_data(event_type: str, data: dict[str, Any], secrets: tuple[str, ...]) -> dict[str, Any]:
    """An event's data with its texts erased (empty ones stay empty) and the customer's name, address
    and subject erased wherever else they appear."""
    private = [f for f in TEXT_FIELDS if not (f == "reason" and event_type in ENGINE_REASONS)]
    out = {k: (ERASED if k in private and v not in (None, "") else v) for k, v in data.items()}
    return {k: _scrub(v, secrets) for k, v in out.items()}


class ErasureMixin(CaseCore):
    def check_erase(self, inp: EraseInput) -> None:
        """Operators only, and only while the case is open (a closed case's history is deleted instead)."""
        if inp.actor.role != ERASER_ROLE:
            raise Rejection("forbidden", f"role {inp.actor.role!r} may not erase a customer's data (operators only)")
        self._require_open("erase the customer's data")

    def erase(self, inp: EraseInput, now: datetime) -> None:
        """Drop the customer's name, e-mail address and the free texts (subject, description, notes,
        messages, reasons) from the state: the ticket, the events this run holds, the pause, the
        compensations and the queued messages. Later messages to the customer go through the ticket
        only (there is no address any more). Recorded as an `erased` event with no text."""
        self.check_erase(inp)
        s = self.state
        ticket, customer = s.ticket, s.ticket.customer
        secrets = tuple(t for t in (customer.name, customer.email, ticket.subject, ticket.description) if t)
        s.ticket = ticket.model_copy(
            update={
                "customer": customer.model_copy(update={"name": ERASED, "email": None}),
                "subject": ERASED,
                "description": "",
            }
        )
        s.events = [e.model_copy(update={"data": erased_data(e.type, e.data, secrets)}) for e in s.events]
        if s.pause_reason is not None:
            s.pause_reason = ERASED
        s.compensations = [
            c.model_copy(update={"reason": ERASED if c.reason else "", "reference": c.reference and ERASED})
            for c in s.compensations
        ]
        s.outbox = [self._erased_effect(effect, secrets) for effect in s.outbox]
        s.erased_at = now
        self._event("erased", now, Actor(id=inp.actor.id, role=inp.actor.role), role=inp.actor.role)

    @staticmethod
    def _erased_effect(effect: Effect, secrets: tuple[str, ...]) -> Effect:
        if effect.issue is not None:
            effect = effect.model_copy(update={"issue": effect.issue.model_copy(update={"reason": ERASED})})
        note = effect.notification
        if note is None:
            return effect
        params = {k: (ERASED if k in ("customer", "subject") else _scrub(v, secrets)) for k, v in note.params.items()}
        context = note.context
        if context is not None:
            context = context.model_copy(
                update={"customer_email": None, "channel": "ticket" if note.audience == "customer" else context.channel}
            )
        return effect.model_copy(
            update={"notification": note.model_copy(update={"params": params, "context": context})}
        )

"""Remedies the customer chooses: at the compensate step an agent offers 2-4 options, each within
their own authority and the customer's cap; the customer's pick (on the page, or a reply with the
option's number) IS the compensate step, recorded with actor `customer`, pre-approved by the offering
agent's authority and issued once through the usual instruction. Nothing picked by the deadline: the
policy's `[offers] on_expiry` issues the default option or tells the owner."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from workflows.case.core import CaseCore, Rejection
from workflows.case.state import _EPSILON
from workflows.models import (
    ENGINE,
    Actor,
    Compensation,
    Offer,
    OfferInput,
    PickInput,
    RemedyOption,
)
from workflows.policy import Step

CUSTOMER = Actor(id="customer", role="customer")
_NUMBER_REPLY = re.compile(r"^\s*(?:option\s*|no\.?\s*|#\s*)?([1-4])\s*[.)!]?\s*$", re.IGNORECASE)
"""A reply that is just an option's number ("2", "#2", "option 2", "2.")."""


def picked_number(text: str) -> int | None:
    """The option number a customer's reply names, if the reply is only that."""
    found = _NUMBER_REPLY.match(text)
    return int(found.group(1)) if found else None


class OffersMixin(CaseCore):
    @property
    def open_offer(self) -> Offer | None:
        offer = self.state.offer
        return offer if offer is not None and offer.status == "open" else None

    # ---- the agent offers --------------------------------------------------------------------

    def check_offer(self, inp: OfferInput, now: datetime) -> None:
        self._require_step(Step.COMPENSATE, "offer remedies")
        if self.open_offer is not None:
            raise Rejection("conflict", "an offer is already waiting for the customer's choice")
        pending = self.pending_compensation
        if pending is not None:
            raise Rejection(
                "conflict", f"a {pending.kind.value} of {pending.amount} is already {pending.status.replace('_', ' ')}"
            )
        if self.policy.role(inp.actor.role) is None:
            raise Rejection("forbidden", f"role {inp.actor.role!r} may not compensate")
        for number, option in enumerate(inp.options, 1):
            self._check_option(number, option, inp.actor, now)
        choose_by = self._choose_by(inp, now)
        if choose_by <= now:
            raise Rejection("invalid", f"choose_by {choose_by.isoformat()} is not in the future")
        latest = now + self.policy.offers.max_choice_window
        if choose_by > latest:
            raise Rejection(
                "invalid", f"choose_by {choose_by.isoformat()} is later than the policy allows ({latest.isoformat()})"
            )

    def _check_option(self, number: int, option: RemedyOption, actor: Actor, now: datetime) -> None:
        if option.amount is None:
            return
        money = option.amount
        limit = self.policy.limit_of(actor.role, money.currency)
        if money.amount > limit:
            raise Rejection(
                "forbidden",
                f"option {number}: {money} is above your authority ({limit} {money.currency}); "
                "an offer is pre-approved, so every option must be within it",
            )
        cap = self.policy.compensation.customer_cap.get(money.currency)
        if cap is not None:
            total = self._granted_total(money.currency, now)
            if total + money.amount > cap:
                raise Rejection(
                    "forbidden",
                    f"option {number}: {money} would take this customer's compensation to "
                    f"{total + money.amount} {money.currency}, above the cap of {cap}",
                )

    def _choose_by(self, inp: OfferInput, now: datetime) -> datetime:
        return inp.choose_by if inp.choose_by is not None else now + self.policy.offers.choice_window

    def offer(self, inp: OfferInput, now: datetime) -> Offer:
        self.check_offer(inp, now)
        choose_by = self._choose_by(inp, now)
        event = self._event(
            "remedies_offered",
            now,
            inp.actor,
            options=[o.model_dump(mode="json") for o in inp.options],
            default=inp.default,
            choose_by=choose_by.isoformat(),
            reason=inp.reason,
            on_expiry=self.policy.offers.on_expiry,
        )
        offer = Offer(
            seq=event.seq,
            options=list(inp.options),
            default=inp.default,
            choose_by=choose_by,
            offered_by=inp.actor,
            reason=inp.reason,
        )
        self.state.offer = offer
        fallback = (
            f"we will issue option {inp.default} ({inp.options[inp.default - 1].describe()})"
            if self.policy.offers.on_expiry == "issue_default"
            else "the person handling your case will get in touch"
        )
        self._notify_customer(
            event,
            "offer",
            options="\n\n".join(f"{n}. {o.describe()}" for n, o in enumerate(inp.options, 1)),
            choose_by=self._format(choose_by),
            fallback=fallback,
        )
        return offer

    # ---- the customer picks ------------------------------------------------------------------

    def check_pick(self, inp: PickInput, now: datetime) -> None:
        self._require_open("choose a remedy")
        offer = self.state.offer
        if offer is None:
            raise Rejection("out_of_order", "there is no offer of remedies to choose from")
        if offer.status == "picked":
            assert offer.picked is not None
            who = "you" if offer.picked_by == CUSTOMER.id else "the default, at the deadline,"
            raise Rejection(
                "conflict",
                f"option {offer.picked} ({offer.options[offer.picked - 1].describe()}) was already chosen by {who}; "
                "nothing was changed",
            )
        if offer.status == "expired" or now + timedelta(seconds=_EPSILON) >= offer.choose_by:
            raise Rejection("conflict", f"the choice closed at {offer.choose_by.isoformat()}; nothing was changed")
        if inp.option > len(offer.options):
            raise Rejection("invalid", f"option {inp.option} does not exist (options 1-{len(offer.options)})")

    def pick_remedy(self, inp: PickInput, now: datetime) -> Compensation:
        self.check_pick(inp, now)
        return self._settle_offer(inp.option, CUSTOMER, inp.source, now)

    def _settle_offer(self, number: int, actor: Actor, source: str, now: datetime) -> Compensation:
        """The chosen option becomes the compensation, pre-approved by the offering agent's authority."""
        offer = self.state.offer
        assert offer is not None
        option = offer.options[number - 1]
        offer.status, offer.picked, offer.picked_by, offer.picked_at = "picked", number, actor.id, now
        limit = self.policy.limit_of(offer.offered_by.role, option.amount.currency) if option.amount else None
        event = self._event(
            "remedy_picked",
            now,
            actor,
            offer=offer.seq,
            option=number,
            source=source,
            kind=option.kind.value,
            amount=str(option.amount) if option.amount else None,
            default=actor.id != CUSTOMER.id,
            offered_by=offer.offered_by.id,
            authority=f"{limit} {option.amount.currency}" if option.amount else None,
        )
        comp = Compensation(
            seq=event.seq,
            kind=option.kind,
            amount=option.amount,
            reason=offer.reason or f"chosen from the offer: {option.describe()}",
            proposed_by=actor,
            approved_by=offer.offered_by,
            status="issuing",
            offer=offer.seq,
        )
        self.state.compensations.append(comp)
        self._issue(comp, event.seq)
        return comp

    def _reply_chooses(self, text: str) -> bool:
        """The reply is only an option's number, and the case is at compensate with an offer made
        (after that step a number is a follow-up score, not a pick)."""
        return picked_number(text) is not None and self.state.offer is not None and self.state.step is Step.COMPENSATE

    def _reply_picks(self, text: str, now: datetime, source: str) -> None:
        """A reply naming an option (`_reply_chooses`): the pick, or a clear answer why not."""
        number = picked_number(text)
        assert number is not None
        try:
            self.check_pick(PickInput(actor=CUSTOMER, option=number, source=source), now)
        except Rejection as refusal:
            event = self._event("remedy_pick_refused", now, CUSTOMER, option=number, reason=refusal.message)
            self._notify_customer(event, "offer_closed", reason=_customer_words(refusal.message))
            return
        self._settle_offer(number, CUSTOMER, source, now)

    # ---- the deadline ------------------------------------------------------------------------

    def _offer_deadline(self, now: datetime) -> None:
        offer = self.open_offer
        if offer is None or now + timedelta(seconds=_EPSILON) < offer.choose_by:
            return
        if self.policy.offers.on_expiry == "issue_default":
            self._event("offer_expired", now, ENGINE, offer=offer.seq, action="issue_default", option=offer.default)
            self._settle_offer(offer.default, ENGINE, "deadline", now)
            return
        offer.status = "expired"
        event = self._event("offer_expired", now, ENGINE, offer=offer.seq, action="notify_owner")
        self._notify(event, "internal", self._owner_or_role(), "offer_expired", choose_by=self._format(offer.choose_by))


def _customer_words(message: str) -> str:
    text = message.replace("; nothing was changed", ".")
    return text[0].upper() + text[1:]

"""What the customer sends from their case page, checked and turned into the case's updates (no
HTTP here: starter/customer/actions.py posts them).

* A score (the follow-up question): `>= satisfied_at` completes the follow-up as satisfied with
  csat = score; `<= unsatisfied_at` completes it unsatisfied with the comment as note (the workflow
  reopens the case at fix and tells the owner); anything between goes to the case as a customer
  message, "The customer scored 3: <comment>", for the owner to decide. The actor is the customer.
* A message from the reply box: the `customer_message` update, exactly as a ticket reply, with an
  event id made of the link id and the form's nonce, so a resubmitted form is one message.

Thresholds are the policy's `[follow_up] satisfied_at` (default 4) and `unsatisfied_at` (default 2),
of the policy the API runs (its set's default policy). `RECOVERY_SATISFIED_AT` and
`RECOVERY_UNSATISFIED_AT`, the process settings of before, still override them when set (deprecated).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from workflows.complaint import ComplaintWorkflow
from workflows.models import Actor, CustomerMessageInput, FollowUpInput, FollowUpOutcome, PickInput
from workflows.policy import Policy

CUSTOMER = Actor(id="customer", role="customer")
SOURCE = "case-page"
"""The `source` of customer messages sent from the page (a ticket reply's is its ticketing tool)."""
MAX_MESSAGE = 4000
"""The reply box: what a ticket reply may carry (`CustomerMessageInput.text`)."""
SCORE_PREFIX = "The customer scored {score}"
MAX_COMMENT = MAX_MESSAGE - 100
"""A score's comment: room left for the prefix of a middle score's customer message."""
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class Refused(Exception):
    """A form the page refuses, with what to tell the customer (their text is shown back to them)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class ThresholdError(ValueError):
    pass


@dataclass(frozen=True)
class Thresholds:
    satisfied_at: int = 4
    unsatisfied_at: int = 2

    def __post_init__(self) -> None:
        if not 1 <= self.unsatisfied_at < self.satisfied_at <= 5:
            raise ThresholdError(
                f"follow-up thresholds: need 1 <= RECOVERY_UNSATISFIED_AT ({self.unsatisfied_at}) "
                f"< RECOVERY_SATISFIED_AT ({self.satisfied_at}) <= 5"
            )

    @classmethod
    def of(cls, policy: Policy | None) -> Thresholds:
        """The policy's `[follow_up]` keys, overridden by the deprecated environment settings."""
        if policy is None:
            return cls.from_env()
        return cls.from_env(cls(policy.follow_up.satisfied_at, policy.follow_up.unsatisfied_at))

    @classmethod
    def from_env(cls, default: Thresholds | None = None) -> Thresholds:
        def number(name: str, default: int) -> int:
            text = os.environ.get(name, "").strip()
            if not text:
                return default
            try:
                return int(text)
            except ValueError:
                raise ThresholdError(f"{name} {text!r}: a score from 1 to 5") from None

        base = default or cls()
        return cls(
            number("RECOVERY_SATISFIED_AT", base.satisfied_at), number("RECOVERY_UNSATISFIED_AT", base.unsatisfied_at)
        )

    def outcome(self, score: int) -> str:
        """`satisfied`, `unsatisfied` or `middle` (for the owner to decide)."""
        if score >= self.satisfied_at:
            return "satisfied"
        if score <= self.unsatisfied_at:
            return "unsatisfied"
        return "middle"


def clean_text(raw: str | None, what: str, limit: int) -> str:
    """The customer's text with the browser's CRLFs as LFs; refused (400) over `limit` characters or
    with a control character, saying so."""
    text = (raw or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(text) > limit:
        raise Refused(
            400, f"Your {what} is {len(text):,} characters long; we can take {limit:,} at most. Please shorten it."
        )
    found = _CONTROL.search(text)
    if found:
        raise Refused(
            400,
            f"Your {what} contains an invisible control character (U+{ord(found.group()):04X}) we cannot "
            "keep. Please remove it (it often comes with pasted text).",
        )
    return text


def parse_score(raw: str | None) -> int:
    text = (raw or "").strip()
    if len(text) != 1 or text not in "12345":
        raise Refused(400, "Please choose a score from 1 to 5.")
    return int(text)


def check_nonce(raw: str | None) -> str:
    if raw is None or not _NONCE.match(raw):
        raise Refused(400, "This form is incomplete. Please reload the page and send it again.")
    return raw


def event_id(kind: str, link_id: uuid.UUID, nonce: str) -> str:
    """Stable per form: the same form sent twice is the same event (the case de-duplicates it)."""
    return f"{SOURCE}-{kind}-{link_id.hex}-{nonce}"


Update = Callable[..., Any]


def score_step(score: int, comment: str, thresholds: Thresholds, eid: str) -> tuple[str, Update, BaseModel]:
    """(outcome, update, its input) for a score from the page."""
    outcome = thresholds.outcome(score)
    if outcome == "middle":
        text = SCORE_PREFIX.format(score=score) + (f": {comment}" if comment else ".")
        return outcome, ComplaintWorkflow.customer_message, CustomerMessageInput(event_id=eid, source=SOURCE, text=text)
    follow_up = FollowUpInput(actor=CUSTOMER, outcome=FollowUpOutcome(outcome), csat=score, note=comment)
    return outcome, ComplaintWorkflow.complete_follow_up, follow_up


def parse_option(raw: str | None, options: int) -> int:
    text = (raw or "").strip()
    if len(text) != 1 or not text.isdigit() or not 1 <= int(text) <= options:
        raise Refused(400, f"Please choose one of the options (1 to {options}).")
    return int(text)


def pick_step(option: int) -> tuple[Update, BaseModel]:
    """The customer's choice of remedy: the `pick_remedy` update, actor customer."""
    return ComplaintWorkflow.pick_remedy, PickInput(actor=CUSTOMER, option=option, source=SOURCE)


def message_step(text: str, eid: str) -> tuple[Update, BaseModel]:
    """The reply box's message: the ticket reply's update (resumes a pause waiting on the customer)."""
    return ComplaintWorkflow.customer_message, CustomerMessageInput(event_id=eid, source=SOURCE, text=text, resume=True)


NOTICES = {
    "satisfied": "Thank you! We noted your score.",
    "unsatisfied": (
        "Thank you for telling us. We reopened your case to put it right, and the person handling it has been told."
    ),
    "middle": "Thank you. We passed your score to the person handling your case.",
    "message": "Thank you: your message is on your case, and the person handling it has been told.",
    "optout": (
        "Done: we won't send you status updates any more. We will still write when we promise "
        "something and when your case moves."
    ),
    "optin": "Done: status updates are back on.",
    "picked": "Thank you: we noted your choice and are issuing it now.",
}
"""What the page says after a POST went through (`?sent=<key>` on the redirect)."""


def pick_refusal(code: str, message: str) -> Refused:
    """A refused pick in the customer's words: the case says which option was chosen, or when the
    choice closed; nothing was changed either way."""
    if code == "conflict" and "already chosen by you" in message:
        return Refused(409, "You have already made your choice, so this one was not recorded. Nothing was changed.")
    if code == "conflict" and "already chosen" in message:
        return Refused(409, "The time to choose has passed and we issued the default option. Nothing was changed.")
    if code == "conflict" and "choice closed" in message:
        return Refused(
            409, "Sorry, the time to choose has passed, so this choice was not recorded. Nothing was changed."
        )
    if code in ("out_of_order", "closed"):
        return Refused(409, "There is no choice to make on your case just now. You can write to us below.")
    return refusal(code, "pick")


def refusal(code: str, form: str) -> Refused:
    """A CaseError's code (the case refused the update) as what the customer reads; for a pick, the
    case's own reason (already chosen, the choice closed) is the clearest answer: `pick_refusal`."""
    if form == "answer" and code in ("out_of_order", "closed"):
        return Refused(
            409,
            "We already have an answer to this question (yours, or one our team noted), and your case "
            "has moved on, so this one was not recorded. You can still write to us below.",
        )
    if form == "answer" and code == "not_ready":
        return Refused(409, "We have not asked for your score yet. You can write to us below.")
    if code == "conflict":
        return Refused(409, "Your case is on hold just now, so we could not record a score. You can write to us below.")
    if code == "closed":
        return Refused(
            409, "Your case is closed, so we could not add this. If something is still wrong, reply to our last email."
        )
    if code == "not_found":
        return Refused(404, "")
    if code == "invalid":
        return Refused(400, "We could not accept this as it is. Please check it and send it again.")
    return Refused(503, "We could not save this just now. Please try again in a minute: your text is still here.")

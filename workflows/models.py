"""The models callers and the workflow share: ticket events, agents' step inputs, status, events.

What the workflow owes the outside world, and the activities' inputs and results, are in
`workflows.effects`."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from workflows.contact import EmailAddress, HeaderText
from workflows.money import Amount, Currency, Money, check_places_on_entry
from workflows.policy import Policy, Severity, Step

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,79}$")


def _identifier(value: str) -> str:
    if not _ID.match(value):
        raise ValueError("use 1-80 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
    return value


Identifier = Annotated[str, AfterValidator(_identifier), Field(json_schema_extra={"pattern": _ID.pattern})]
Text = Annotated[str, Field(min_length=1, max_length=4000)]


# C0 controls but tab, newline and carriage return, and DEL: never meaningful in a ticket or a note,
# and NUL is refused by PostgreSQL text columns further down.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _no_control_characters(value: Any) -> Any:
    texts = value if isinstance(value, list) else [value]
    for text in texts:
        if isinstance(text, str) and (found := _CONTROL.search(text)):
            raise ValueError(f"control character {found.group()!r} is not allowed in text")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _printable(cls, value: Any, info: ValidationInfo) -> Any:
        # Checked where input enters (API, CLI); a history already written is read as written (the
        # data converter says so in the validation context, in the worker and in clients alike).
        from temporalio import workflow

        stored = bool(info.context and info.context.get("stored"))
        return value if stored or workflow.in_workflow() else _no_control_characters(value)


class Customer(_Model):
    id: Identifier
    name: Annotated[HeaderText, Field(min_length=1, max_length=200)]
    email: EmailAddress | None = None
    tier: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    """The customer's tier (gold, enterprise, ...), for policy rules."""
    payment_customer_id: Annotated[str, Field(pattern=r"^cus_[A-Za-z0-9]{1,100}$")] | None = None
    """The customer at the payment provider (Stripe `cus_…`): credits go to this balance."""


class Order(_Model):
    id: Identifier
    currency: Currency
    total: Amount | None = None
    shipping: Amount | None = None
    payment_reference: Annotated[str, Field(pattern=r"^(pi|ch)_[A-Za-z0-9]{1,100}$")] | None = None
    """The order's payment at the provider (Stripe PaymentIntent `pi_…` or Charge `ch_…`): refunds go to it."""

    @model_validator(mode="after")
    def _fits_currency(self) -> Order:
        for amount in (self.total, self.shipping):
            if amount is not None:
                check_places_on_entry(amount, self.currency)
        return self

    def money(self, amount: Decimal | None) -> Money | None:
        return None if amount is None else Money(amount=amount, currency=self.currency)


class TicketEvent(_Model):
    """A ticket event from any source, in the generic shape (`recovery open --file`, `POST /v1/tickets`)."""

    source: Identifier
    event_id: Annotated[str, Field(min_length=1, max_length=200)]
    ticket_id: Identifier
    customer: Customer
    order: Order | None = None
    subject: Annotated[HeaderText, Field(min_length=1, max_length=300)]
    description: Annotated[str, Field(max_length=20000)] = ""
    severity: Severity | None = None
    occurred_at: AwareDatetime
    url: Annotated[str, Field(max_length=2000)] | None = None
    tags: list[str] = []
    brand: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    """The brand the ticket came in for (Zendesk `brand_id`), for policy rules."""
    group: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    """The group or queue handling it (Zendesk `group_id`, a JSM queue), for policy rules."""
    project: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    """The Jira project key, for policy rules."""

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        from temporalio import workflow

        if not isinstance(value, str | datetime) and not workflow.in_workflow():
            raise ValueError("occurred_at must be an ISO 8601 time with a timezone, e.g. 2026-11-20T10:00:00Z")
        return value

    @field_validator("occurred_at", mode="after")
    @classmethod
    def _has_a_utc_time(cls, value: datetime) -> datetime:
        from temporalio import workflow

        if not workflow.in_workflow():  # checked on entry; a history already written is read as written
            try:
                value.astimezone(timezone.utc)
            except OverflowError:
                raise ValueError(f"{value.isoformat()} is outside the range of UTC times (years 1-9999)") from None
        return value

    @property
    def case_key(self) -> str:
        """`<customer id>:<order id>` when the ticket names an order, else `<source>:<ticket id>`."""
        if self.order is not None:
            return f"{self.customer.id}:{self.order.id}"
        return f"{self.source}:{self.ticket_id}"


WORKFLOW_ID_PREFIX = "complaint-"


def workflow_id_for(case_key: str, generation: int = 1) -> str:
    """`complaint-<case key>`; a new complaint after the case closed is generation 2: `…~2`."""
    workflow_id = case_key if case_key.startswith(WORKFLOW_ID_PREFIX) else f"{WORKFLOW_ID_PREFIX}{case_key}"
    return workflow_id if generation == 1 else f"{workflow_id}~{generation}"


def case_id_of(workflow_id: str) -> str:
    """The case id of a complaint workflow id: its case key, with the generation if any (`cust-1:ord-1~2`)."""
    return workflow_id.removeprefix(WORKFLOW_ID_PREFIX)


class Actor(_Model):
    """Who did a step. The API fills it from the authenticated agent, never from a request body."""

    id: Identifier
    role: Identifier


ENGINE = Actor(id="engine", role="engine")


class CompensationKind(StrEnum):
    REFUND = "refund"
    CREDIT = "credit"
    COUPON = "coupon"
    UPGRADE = "upgrade"
    GIFT = "gift"
    REPLACEMENT = "replacement"
    NONE = "none"


MONEY_REQUIRED = {CompensationKind.REFUND, CompensationKind.CREDIT, CompensationKind.COUPON}


class AcknowledgeInput(_Model):
    actor: Actor
    message: Annotated[str, Field(max_length=4000)] = ""


class FixInput(_Model):
    actor: Actor
    description: Text


class CompensateInput(_Model):
    actor: Actor
    kind: CompensationKind
    amount: Money | None = None
    reason: Annotated[str, Field(max_length=2000)] = ""
    reference: Annotated[str, Field(max_length=200)] | None = None
    """Set when the agent issued it in an external system: the reference there."""

    @model_validator(mode="after")
    def _consistent(self) -> CompensateInput:
        if self.kind is CompensationKind.NONE:
            if not self.reason:
                raise ValueError("compensation 'none' needs a reason")
            if self.amount is not None and self.amount.amount != 0:
                raise ValueError("compensation 'none' carries no amount")
        elif self.kind in MONEY_REQUIRED and (self.amount is None or self.amount.amount == 0):
            raise ValueError(f"a {self.kind.value} needs an amount greater than zero")
        return self


class RemedyOption(_Model):
    """One remedy of an offer: what `compensate` would issue, and how the customer reads it."""

    kind: CompensationKind
    amount: Money | None = None
    label: Annotated[str, Field(max_length=200)] = ""

    @model_validator(mode="after")
    def _consistent(self) -> RemedyOption:
        if self.kind is CompensationKind.NONE:
            raise ValueError("'none' is not a remedy to offer")
        if self.kind in MONEY_REQUIRED and (self.amount is None or self.amount.amount == 0):
            raise ValueError(f"a {self.kind.value} needs an amount greater than zero")
        return self

    def describe(self) -> str:
        if self.label:
            return self.label
        kind = self.kind.value.replace("_", " ")
        return f"a {kind} of {self.amount}" if self.amount else f"a {kind}"


class OfferInput(_Model):
    """2-4 remedies for the customer to choose from by `choose_by` (default: the policy's
    `[offers] choice_window` from now); `default` (1-based) is what the policy may issue after it."""

    actor: Actor
    options: Annotated[list[RemedyOption], Field(min_length=2, max_length=4)]
    default: Annotated[int, Field(ge=1, le=4)] = 1
    choose_by: AwareDatetime | None = None
    reason: Annotated[str, Field(max_length=2000)] = ""

    @field_validator("choose_by", mode="after")
    @classmethod
    def _has_a_utc_time(cls, value: datetime | None) -> datetime | None:
        return TicketEvent._has_a_utc_time(value) if value is not None else None

    @model_validator(mode="after")
    def _default_is_an_option(self) -> OfferInput:
        if self.default > len(self.options):
            raise ValueError(f"default: option {self.default} does not exist (options 1-{len(self.options)})")
        return self


class PickInput(_Model):
    """The customer's choice of one option of the open offer (1-based)."""

    actor: Actor
    option: Annotated[int, Field(ge=1, le=4)]
    source: Identifier = "api"


class Offer(BaseModel):
    """The offer made at the compensate step, and what came of it."""

    seq: int
    """Sequence of the `remedies_offered` event."""
    options: list[RemedyOption]
    default: int
    choose_by: datetime
    offered_by: Actor
    reason: str = ""
    status: Literal["open", "picked", "expired"] = "open"
    picked: int | None = None
    """The option chosen (1-based): by the customer, or the default at the deadline."""
    picked_by: str | None = None
    picked_at: datetime | None = None


class ApprovalInput(_Model):
    actor: Actor
    approve: bool
    note: Annotated[str, Field(max_length=2000)] = ""


class FollowUpOutcome(StrEnum):
    SATISFIED = "satisfied"
    UNSATISFIED = "unsatisfied"
    NO_RESPONSE = "no_response"


class FollowUpInput(_Model):
    actor: Actor
    outcome: FollowUpOutcome
    csat: Annotated[int, Field(ge=1, le=5)] | None = None
    note: Annotated[str, Field(max_length=4000)] = ""


class CloseInput(_Model):
    actor: Actor
    root_cause: Annotated[str, Field(min_length=1, max_length=100)]
    note: Text


class PauseInput(_Model):
    actor: Actor
    reason: Text


class ResumeInput(_Model):
    actor: Actor
    note: Annotated[str, Field(max_length=2000)] = ""


class ChangeSeverityInput(_Model):
    actor: Actor
    severity: Severity
    reason: Text


class ApplyPolicyInput(_Model):
    actor: Actor
    policy: Policy


class AssignInput(_Model):
    """Give the case an owner: oneself (a claim) or another agent. An owned case is handed on by its
    owner or by a lead (a role that approves compensation)."""

    actor: Actor
    assignee: Identifier
    note: Annotated[str, Field(max_length=2000)] = ""


class EraseInput(_Model):
    """Erase the customer's name, e-mail address and free texts from the case (operators only,
    `recovery erase-customer`)."""

    actor: Actor


class CustomerMessageInput(_Model):
    """The customer wrote on the ticket. `resume`: the intake rule for customer replies resumes a
    paused case. The same `event_id` twice changes nothing."""

    event_id: Annotated[str, Field(min_length=1, max_length=200)]
    source: Identifier
    text: Annotated[str, Field(max_length=4000)] = ""
    resume: bool = True


class IgnoredEventInput(_Model):
    """A ticket event whose rule's step the case refused: kept in the timeline with the reason."""

    event_id: Annotated[str, Field(min_length=1, max_length=200)]
    source: Identifier
    rule: Annotated[str, Field(max_length=200)]
    step: Annotated[str, Field(max_length=100)]
    reason: Annotated[str, Field(max_length=2000)]


class ContactInput(_Model):
    ticket: TicketEvent


class ContactResult(BaseModel):
    case_id: str
    workflow_id: str
    created: bool
    """True when this event opened the case."""
    duplicate: bool
    """True when this event id was seen before and changed nothing."""
    contact_count: int


class DomainEvent(BaseModel):
    seq: int
    type: str
    at: datetime
    actor: str
    data: dict[str, Any] = {}


class Compensation(BaseModel):
    seq: int
    """Sequence of the proposal event: with the workflow id, the idempotency key of issuing it."""
    kind: CompensationKind
    amount: Money | None = None
    reason: str = ""
    proposed_by: Actor
    approved_by: Actor | None = None
    reference: str | None = None
    agent_issued: bool = False
    status: Literal["pending_approval", "issuing", "outcome_unknown", "issued", "rejected", "failed"] = "issuing"
    """`outcome_unknown`: issuing gave up without a definite answer; re-checked under the same key."""
    issued_at: datetime | None = None
    checks: int = 0
    """How many times issuing ended without a definite answer."""
    code: str | None = None
    """The code the customer redeems (coupon, gift card)."""
    recheck_at: datetime | None = None
    """When an `outcome_unknown` compensation is checked again."""
    offer: int | None = None
    """The offer it was chosen from (its `remedies_offered` sequence); None for a proposal."""


class Deadlines(BaseModel):
    step: Step
    due_at: datetime | None
    """When the current step is due; None while paused or closed."""
    remaining_seconds: float | None
    """Budget left on the current step (in its clock's time), kept while paused."""
    clock: Literal["wall", "business"]
    next_escalation_at: datetime | None
    next_warning_at: datetime | None
    follow_up_asked: bool = False


class CaseStatus(BaseModel):
    case_id: str
    workflow_id: str
    step: Step
    severity: Severity
    escalation_level: int
    escalation_role: str | None
    contact_count: int
    paused: bool
    pause_reason: str | None
    deadlines: Deadlines
    compensation: list[Compensation]
    pending_compensation: Compensation | None
    customer_id: str
    ticket_source: str
    subject: str
    opened_at: datetime
    closed_at: datetime | None
    root_cause: str | None
    policy: str
    last_event_seq: int
    assignee: str | None = None
    """The agent who owns the case; None while unassigned."""
    customer_name: str | None = None
    order_id: str | None = None
    ticket_id: str | None = None
    ticket_url: str | None = None
    offer: Offer | None = None
    """The offer of remedies at the compensate step, open or settled (the last one made)."""
    accepts: list[str] = []
    """The agents' updates the engine would accept now, by the case's state (an agent's role and
    authority may still refuse compensate/approve_compensation): the console offers only these."""

"""The workflow's effects on the outside world: the outbox's `Effect`s, the activities that do them
(by name, so the workflow module never imports the activity modules and their I/O libraries) and what
those activities take and return: notifications and their delivery, compensation, projection."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from workflows.models import Actor, CaseStatus, CompensationKind, DomainEvent
from workflows.money import Money
from workflows.templates import MessageTemplate

# Activity names, so the workflow module never imports the activity modules (and their I/O libraries).
SEND_NOTIFICATION = "send_notification"
PLAN_DELIVERIES = "plan_deliveries"
DELIVER = "deliver"
ISSUE_COMPENSATION = "issue_compensation"
PROJECT_EVENTS = "project_events"
PLAN_AND_PROJECT = "plan_deliveries_and_project"
"""`plan_deliveries` carrying the events not yet stored (lean-actions): one activity where there were two."""


class NotifyContext(BaseModel):
    """What the channels need besides the text: filled by the step machine from the case (so it is in
    history and the same on every retry), absent on notifications queued by older code."""

    at: datetime
    """When the engine decided to send it: picks the on-call person and quiet hours."""
    customer_email: str | None = None
    ticket_source: str
    ticket_id: str
    ticket_url: str | None = None
    channel: Literal["email", "ticket", "both"] = "email"
    sender: str | None = None
    reply_to: str | None = None
    thread: list[str] = []
    """Keys of the customer messages sent earlier in this case, oldest first (email threading)."""
    severity: str
    level: int = 0
    """The escalation level an `escalation` notification announces."""
    top_level: bool = False
    overrides: dict[str, MessageTemplate] = {}
    """Ops overrides of this template, per channel."""


class Notification(BaseModel):
    """One message to send. `key` (workflow id + event sequence + index) makes resending harmless."""

    key: str
    case_id: str
    workflow_id: str
    audience: Literal["customer", "internal"]
    recipient: str
    """`customer`, or the internal role that should hear it."""
    template: str
    params: dict[str, str] = {}
    context: NotifyContext | None = None


class Delivery(BaseModel):
    """One message over one channel to one address. `key` (notification key + channel + address)
    is what the channel de-duplicates on: SMTP Message-ID, ticket comment marker, webhook header."""

    key: str
    channel: Literal["email", "zendesk", "jira", "slack", "webhook"]
    address: str
    """Email address, ticket id/key, or webhook URL."""
    person: str | None = None
    """The roster person it reaches (internal messages)."""
    internal: bool = False
    """On a ticket: an internal note instead of a public comment."""
    note: Notification


class DeliveryTarget(BaseModel):
    """Someone to reach: the customer, or one person of the roster, over one or more channels.
    `label` names them in the timeline; the target is reached when any of its deliveries is."""

    label: str
    deliveries: list[Delivery]
    patient: bool = True
    """Customer messages retry for a long time; a person's channels give up sooner, so the
    next person is tried."""


class DeliveryPlan(BaseModel):
    targets: list[DeliveryTarget] = []
    first_reachable: bool = False
    """Stop at the first target reached (the on-call order of a role below the top level)."""
    also: list[DeliveryTarget] = []
    """Delivered whoever else is reached: the internal note on the source ticket."""
    skipped: list[str] = []
    """People left out, with why (quiet hours)."""
    recorded: bool = False
    """Whether the timeline should name who was reached (real channels, not the log)."""


class DeliveryReceipt(BaseModel):
    detail: str
    duplicate: bool = False


class IssueInstruction(BaseModel):
    """Issue one compensation. `key` is the workflow id + proposal event sequence."""

    key: str
    case_id: str
    workflow_id: str
    customer_id: str
    kind: CompensationKind
    amount: Money | None
    reason: str
    issued_by: Actor
    approved_by: Actor | None = None
    agent_reference: str | None = None
    payment_reference: str | None = None
    """The order's payment to refund (`order.payment_reference` of the ticket)."""
    payment_customer_id: str | None = None
    """The provider's customer to credit (`customer.payment_customer_id` of the ticket)."""


class IssueResult(BaseModel):
    reference: str
    agent_issued: bool
    code: str | None = None
    """For a coupon or gift card: the code the customer redeems."""


class ProjectionBatch(BaseModel):
    """Domain events for the event store; (workflow id, seq) makes redelivery harmless."""

    workflow_id: str
    case_id: str
    events: list[DomainEvent]
    status: CaseStatus | None = None
    """The case's status as of the last event: the read model's snapshot for pages (None in old histories)."""


class PlanWithEvents(BaseModel):
    """A notification to plan, and the case's events not yet in the event store (lean-actions)."""

    note: Notification
    batch: ProjectionBatch


class PlannedWithEvents(BaseModel):
    plan: DeliveryPlan
    projected: bool
    """False: the event store did not take the batch (an outage, a refused event): the workflow's
    projector then sends it on its own, retried and alerted as always."""


class Effect(BaseModel):
    """Work the workflow owes the outside world, kept in state until an activity has done it."""

    key: str
    event_seq: int
    notification: Notification | None = None
    issue: IssueInstruction | None = None
    compensation_seq: int | None = None
    started: bool = False
    """The workflow has started doing it (a notification in flight can no longer take more news)."""

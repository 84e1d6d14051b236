"""What the customer's case page shows, read from PostgreSQL only (never a Temporal query): the
engine's status snapshot (`case_status`), the event store (`events`) and the message log
(`customer_messages`). Only what the customer may see: their first name, the subject, the steps
done for them in plain words, the current promise, and the messages they were already sent. No
email, address, order total, internal escalation or agent's note.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

DONE: dict[str, str] = {
    "opened": "We received your report.",
    "acknowledged": "We apologised and took your case on.",
    "fix_recorded": "We fixed the problem.",
    "remedies_offered": "We offered you a choice of ways to make it up to you.",
    "remedy_picked": "You chose {what}.",
    "compensation_issued": "We issued {what} to make up for it.",
    "follow_up_asked": "We asked you whether we made it right.",
    "customer_replied": "You wrote to us; your answer is on the case.",
    "follow_up_done": "We noted how you felt we did.",
    "reopened": "We reopened your case to put it right.",
    "paused": "We put your case on hold while we wait on something.",
    "resumed": "We picked your case up again.",
    "closed": "We closed your case.",
}
"""The events the customer hears about, in their words. Others (escalations, warnings, assignments,
severity, deliveries) are the team's business."""

NEXT: dict[str, str] = {
    "acknowledge": "We will get back to you",
    "fix": "We will fix it",
    "compensate": "We will make it up to you",
    "follow_up": "We will check in with you",
    "close": "We will wrap up your case",
}
"""The current promise per step, followed by "by <due time>"."""


@dataclass
class DoneStep:
    at: datetime
    text: str


@dataclass
class SentMessage:
    title: str
    paragraphs: list[str]
    sent_at: datetime


@dataclass
class OfferView:
    """The offer of remedies as the customer sees it (from the status snapshot's `offer`)."""

    options: list[str]
    default: int
    choose_by: datetime
    status: str
    picked: int | None = None

    @property
    def open(self) -> bool:
        return self.status == "open"


def offer_view(data: dict[str, Any] | None) -> OfferView | None:
    if not data:
        return None
    from workflows.models import RemedyOption  # how the engine words an option, the same everywhere

    return OfferView(
        options=[RemedyOption.model_validate(o, context={"stored": True}).describe() for o in data["options"]],
        default=int(data["default"]),
        choose_by=datetime.fromisoformat(data["choose_by"]),
        status=str(data["status"]),
        picked=data.get("picked"),
    )


@dataclass
class CustomerCase:
    first_name: str
    subject: str
    closed: bool
    next_text: str
    next_due: datetime | None
    done: list[DoneStep] = field(default_factory=list)
    messages: list[SentMessage] = field(default_factory=list)
    version: str = ""
    asking: bool = False
    """The follow-up question is out and unanswered: the page offers the scores."""
    paused: bool = False
    offer: OfferView | None = None
    """The remedies offered at the compensate step: open (the page offers the choice) or settled."""


def first_name(name: str | None) -> str:
    parts = (name or "").split()
    return parts[0] if parts else ""


def _what(data: dict[str, Any]) -> str:
    kind = str(data.get("kind") or "compensation").replace("_", " ")
    amount = data.get("amount")
    return f"a {kind} of {amount}" if amount else f"a {kind}"


def done_step(type_: str, at: datetime, data: dict[str, Any]) -> DoneStep | None:
    text = DONE.get(type_)
    if text is None or (type_ == "customer_replied" and data.get("erased")):
        return None
    if type_ == "remedy_picked" and data.get("default"):
        text = "You did not choose in time, so we went with {what}."
    return DoneStep(at=at, text=text.format(what=_what(data)) if "{what}" in text else text)


def promise(status: dict[str, Any]) -> tuple[str, datetime | None]:
    """(what happens next, by when) from the engine's status snapshot."""
    step = str(status.get("step", ""))
    if step == "closed" or status.get("closed_at"):
        return "Nothing more: your case is closed. If something is still wrong, reply to our last message.", None
    if status.get("paused"):
        return "Your case is on hold while we wait on something. We will write as soon as it moves.", None
    deadlines = status.get("deadlines") or {}
    due_text = deadlines.get("due_at")
    due = datetime.fromisoformat(due_text) if due_text else None
    offer = status.get("offer") or {}
    if step == "compensate" and offer.get("status") == "open":
        return "Choose how we make it up to you", datetime.fromisoformat(offer["choose_by"])
    if step == "follow_up" and deadlines.get("follow_up_asked"):
        return "We are waiting for your answer; reply to our last message", due
    return NEXT.get(step, "We are working on your case"), due


async def version_of(pool: asyncpg.Pool, workflow_id: str) -> str | None:
    """Changes whenever the page would: a new event, snapshot or message. None: no such case."""
    row = await pool.fetchrow(
        "SELECT (SELECT last_seq FROM case_status WHERE workflow_id = $1) AS status_seq, "
        "(SELECT last_seq FROM cases WHERE workflow_id = $1) AS case_seq, "
        "(SELECT count(*) FROM customer_messages WHERE workflow_id = $1) AS messages",
        workflow_id,
    )
    if row is None or (row["status_seq"] is None and row["case_seq"] is None):
        return None
    return f"{row['status_seq'] or 0}.{row['case_seq'] or 0}.{row['messages']}"


async def customer_case(pool: asyncpg.Pool, workflow_id: str) -> CustomerCase | None:
    """The page's content, read in one snapshot; None when the store has no status for the case
    (never projected, or erased): the page then answers like a bad link."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        snap = await conn.fetchrow("SELECT status, last_seq FROM case_status WHERE workflow_id = $1", workflow_id)
        if snap is None:
            return None
        case_seq = await conn.fetchval("SELECT last_seq FROM cases WHERE workflow_id = $1", workflow_id)
        events = await conn.fetch(
            "SELECT type, at, data FROM events WHERE workflow_id = $1 AND type = ANY($2::text[]) ORDER BY seq",
            workflow_id,
            list(DONE),
        )
        messages = await conn.fetch(
            "SELECT title, text, sent_at FROM customer_messages WHERE workflow_id = $1 ORDER BY sent_at, key",
            workflow_id,
        )
    status = json.loads(snap["status"])
    next_text, due = promise(status)
    closed = str(status.get("step")) == "closed" or bool(status.get("closed_at"))
    asked = bool((status.get("deadlines") or {}).get("follow_up_asked"))
    done = [s for e in events if (s := done_step(e["type"], e["at"], json.loads(e["data"]))) is not None]
    return CustomerCase(
        first_name=first_name(status.get("customer_name")),
        subject=str(status.get("subject") or ""),
        closed=closed,
        next_text=next_text,
        next_due=due,
        done=done,
        messages=[
            SentMessage(
                title=m["title"], paragraphs=[p for p in m["text"].split("\n\n") if p.strip()], sent_at=m["sent_at"]
            )
            for m in messages
        ],
        version=f"{snap['last_seq']}.{case_seq or 0}.{len(messages)}",
        asking=str(status.get("step")) == "follow_up" and asked and not closed and not status.get("paused"),
        paused=bool(status.get("paused")),
        offer=offer_view(status.get("offer")),
    )


async def opted_out(pool: asyncpg.Pool, customer_id: str) -> bool:
    """The customer turned status updates off (`customer_optouts`, migration 015)."""
    return bool(await pool.fetchval("SELECT 1 FROM customer_optouts WHERE customer_id = $1", customer_id))

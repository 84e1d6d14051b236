"""What the console's pages show, computed from the read model: times in the agent's zone, the step
progress, and the step forms — built from the steps the engine says it accepts now (the status'
`accepts`), never from rules of the console's own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from console import offer_form
from workflows.case import assignment_refusal
from workflows.models import Actor, CaseStatus, CompensationKind, DomainEvent, FollowUpOutcome
from workflows.policy import Policy

STEPS = [
    ("acknowledge", "Acknowledge", "acknowledged"),
    ("fix", "Fix", "fix_recorded"),
    ("compensate", "Compensate", "compensation_issued"),
    ("follow_up", "Follow up", "follow_up_done"),
    ("close", "Close", "closed"),
]


def zone_or(name: str | None, fallback: str) -> str:
    try:
        ZoneInfo(name or "")
        return name or fallback
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return fallback


class Clock:
    """Formats moments in the agent's zone and names the zone."""

    def __init__(self, zone: str):
        self.zone_name = zone
        self.zone = ZoneInfo(zone)

    def __call__(self, moment: datetime | None, with_date: bool = True) -> str:
        if moment is None:
            return "—"
        local = moment.astimezone(self.zone)
        return local.strftime("%a %d %b %Y %H:%M %Z" if with_date else "%H:%M:%S %Z")


@dataclass
class StepProgress:
    key: str
    label: str
    state: str  # done | current | todo
    at: datetime | None = None
    by: str | None = None


def progress(status: CaseStatus | None, events: list[DomainEvent]) -> list[StepProgress]:
    current = status.step.value if status else None
    done_at: dict[str, DomainEvent] = {}
    for e in events:
        for key, _, event_type in STEPS:
            if e.type == event_type and not (e.type == "follow_up_done" and e.data.get("outcome") == "unsatisfied"):
                done_at[key] = e
        if e.type == "reopened":  # a new round: fix onwards is to do again
            for key in ("fix", "compensate", "follow_up", "close"):
                done_at.pop(key, None)
    out = []
    for key, label, _ in STEPS:
        event = done_at.get(key)
        state = "current" if key == current else ("done" if event else "todo")
        out.append(
            StepProgress(
                key=key, label=label, state=state, at=event.at if event else None, by=event.actor if event else None
            )
        )
    return out


# ---- step forms --------------------------------------------------------------------------------


@dataclass
class Field:
    name: str
    label: str
    kind: str = "text"  # text | textarea | select | number
    required: bool = False
    options: list[tuple[str, str]] = field(default_factory=list)
    hint: str = ""
    value: str = ""


@dataclass
class StepForm:
    update: str
    title: str
    fields: list[Field]
    buttons: list[tuple[str, str]]  # (value of `decision`, label)
    facts: list[str] = field(default_factory=list)
    error: str | None = None


LABELS = {
    "acknowledge": "Acknowledge and apologise",
    "record_fix": "Record the fix",
    "compensate": "Propose compensation",
    "offer": "Offer remedies for the customer to choose",
    "approve_compensation": "Approve or reject the compensation",
    "complete_follow_up": "Record the follow-up",
    "close": "Close the case",
    "pause": "Pause",
    "resume": "Resume",
    "assign": "Owner",
}

DONE = {
    "acknowledge": "Acknowledged: the customer has been told.",
    "record_fix": "Fix recorded.",
    "compensate": "Compensation proposed.",
    "offer": "Offer sent: the customer chooses on their page or by replying with a number.",
    "approve_compensation": "Decision recorded.",
    "complete_follow_up": "Follow-up recorded.",
    "close": "Case closed.",
    "pause": "Case paused.",
    "resume": "Case resumed.",
    "assign": "Owner changed.",
}


@dataclass
class Viewer:
    agent: str
    role: str
    can_act: bool


def step_forms(
    status: CaseStatus,
    policy: Policy,
    me: Viewer,
    agents: list[tuple[str, str]],
    granted: dict[str, Decimal],
    now: datetime,
) -> list[StepForm]:
    """One form per step the engine accepts now and this agent may take."""
    if not me.can_act:
        return []
    forms: list[StepForm] = []
    for update in status.accepts:
        form = _form(update, status, policy, me, agents, granted, now)
        if form is not None:
            forms.append(form)
    return forms


def _form(
    update: str,
    status: CaseStatus,
    policy: Policy,
    me: Viewer,
    agents: list[tuple[str, str]],
    granted: dict[str, Decimal],
    now: datetime,
) -> StepForm | None:
    title = LABELS[update]
    if update == "acknowledge":
        return StepForm(
            update,
            title,
            [
                Field(
                    "message",
                    "Personal note to the customer",
                    "textarea",
                    hint="Added to the apology the customer receives.",
                )
            ],
            [("", "Acknowledge")],
        )
    if update == "record_fix":
        return StepForm(
            update,
            title,
            [
                Field(
                    "description", "What was done to fix it", "textarea", True, hint="The customer receives this text."
                )
            ],
            [("", "Record fix")],
        )
    if update == "compensate":
        role = policy.role(me.role)
        currencies = list(dict.fromkeys([*(role.limit if role else {}), *policy.compensation.customer_cap])) or ["USD"]
        facts = []
        for cur in currencies:
            authority = policy.limit_of(me.role, cur)
            line = f"Your authority: {authority} {cur} without approval"
            cap = policy.compensation.customer_cap.get(cur)
            if cap is not None:
                left = max(cap - granted.get(cur, Decimal(0)), Decimal(0))
                days = policy.compensation.cap_window.days
                line += f"; left under this customer's cap: {left} {cur} (of {cap}, last {days} days)"
            facts.append(line + ".")
        return StepForm(
            update,
            title,
            [
                Field("kind", "Kind", "select", True, [(k.value, k.value) for k in CompensationKind]),
                Field("amount", "Amount", "number", hint="Needed for refund, credit and coupon."),
                Field("currency", "Currency", "select", True, [(c, c) for c in currencies]),
                Field("reason", "Reason", "textarea", hint="Required for kind 'none'."),
                Field("reference", "Reference, if you issued it yourself elsewhere"),
            ],
            [("", "Propose")],
            facts=facts,
        )
    if update == "offer":
        role = policy.role(me.role)
        currencies = list(dict.fromkeys([*(role.limit if role else {}), *policy.compensation.customer_cap])) or ["USD"]
        limits = [f"{policy.limit_of(me.role, cur)} {cur}" for cur in currencies]
        facts = [f"Your authority: {', '.join(limits)}.", *offer_form.offer_facts(policy)]
        return StepForm(update, title, offer_form.offer_fields(policy, currencies, Field), [("", "Offer")], facts=facts)
    if update == "approve_compensation":
        pending = status.pending_compensation
        if pending is None or pending.proposed_by.id == me.agent:
            return None  # one's own proposal: self-approval is not offered (and the engine refuses it)
        if pending.amount is None or policy.approval_limit_of(me.role, pending.amount.currency) is None:
            return None
        facts = [
            f"{pending.proposed_by.id} ({pending.proposed_by.role}) proposes a {pending.kind.value} of "
            f"{pending.amount}: “{pending.reason or 'no reason given'}”.",
            f"You may approve up to {policy.approval_limit_of(me.role, pending.amount.currency)} "
            f"{pending.amount.currency}.",
        ]
        return StepForm(
            update,
            title,
            [Field("note", "Note", "textarea")],
            [("approve", "Approve"), ("reject", "Reject")],
            facts=facts,
        )
    if update == "complete_follow_up":
        return StepForm(
            update,
            title,
            [
                Field(
                    "outcome",
                    "Outcome",
                    "select",
                    True,
                    [(o.value, o.value.replace("_", " ")) for o in FollowUpOutcome],
                ),
                Field("csat", "Customer satisfaction (1-5)", "number"),
                Field("note", "Note", "textarea"),
            ],
            [("", "Record follow-up")],
        )
    if update == "close":
        return StepForm(
            update,
            title,
            [
                Field(
                    "root_cause", "Root cause", "select", True, [(r, r.replace("-", " ")) for r in policy.root_causes]
                ),
                Field("note", "Closing note", "textarea", True),
            ],
            [("", "Close case")],
        )
    if update == "pause":
        return StepForm(
            update, title, [Field("reason", "Reason (e.g. waiting for photos)", "text", True)], [("", "Pause")]
        )
    if update == "resume":
        return StepForm(update, title, [Field("note", "Note", "text")], [("", "Resume")])
    if update == "assign":
        actor = Actor(id=me.agent, role=me.role)
        choices = [
            (agent, f"{agent} ({role})")
            for agent, role in agents
            if assignment_refusal(policy, status.assignee, actor, agent) is None
        ]
        if not choices:
            return None  # someone else's case and not a lead: the engine would refuse any assignment
        facts = [f"Owner: {status.assignee}." if status.assignee else "Nobody owns this case yet."]
        buttons = [("", "Assign")]
        if any(agent == me.agent for agent, _ in choices):
            buttons.insert(0, ("claim", "Claim for me"))
        return StepForm(update, title, [Field("assignee", "Assign to", "select", False, choices)], buttons, facts=facts)
    return None


def step_input(update: str, form: dict[str, str], agent: str) -> dict[str, Any]:
    """The update's input fields (without the actor) from a submitted form."""
    get = lambda name: form.get(name, "").strip()
    if update == "acknowledge":
        return {"message": get("message")}
    if update == "record_fix":
        return {"description": get("description")}
    if update == "compensate":
        amount = {"amount": get("amount"), "currency": get("currency") or "USD"} if get("amount") else None
        return {"kind": get("kind"), "amount": amount, "reason": get("reason"), "reference": get("reference") or None}
    if update == "offer":
        return offer_form.offer_input(form)
    if update == "approve_compensation":
        return {"approve": get("decision") != "reject", "note": get("note")}
    if update == "complete_follow_up":
        return {"outcome": get("outcome"), "csat": get("csat") or None, "note": get("note")}
    if update == "close":
        return {"root_cause": get("root_cause"), "note": get("note")}
    if update == "pause":
        return {"reason": get("reason")}
    if update == "resume":
        return {"note": get("note")}
    if update == "assign":
        return {"assignee": agent if get("decision") == "claim" else get("assignee")}
    raise KeyError(update)


def refill(forms: list[StepForm], update: str, values: dict[str, str], error: str) -> None:
    """Put a refused form's values back, with the engine's words, so nothing typed is lost."""
    for form in forms:
        if form.update == update:
            form.error = error
            for f in form.fields:
                if f.name in values:
                    f.value = values[f.name]


def countdown(due: datetime | None, now: datetime) -> str:
    if due is None:
        return ""
    seconds = int((due - now).total_seconds())
    sign = "overdue by " if seconds < 0 else "in "
    seconds = abs(seconds)
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    text = f"{d}d {h}h" if d else (f"{h}h {m}m" if h else f"{m}m {s}s")
    return sign + text


def event_summary(e: DomainEvent) -> str:
    d = e.data
    skip = {"event_id", "policy", "anomalies", "due_at"}
    parts = [f"{k.replace('_', ' ')}: {v}" for k, v in d.items() if k not in skip and v not in (None, "", [], {})]
    return "; ".join(parts)


def overdue(due: datetime | None, now: datetime) -> bool:
    return due is not None and due < now


def soon(due: datetime | None, now: datetime) -> bool:
    return due is not None and now <= due < now + timedelta(hours=1)


offer_lines = offer_form.offer_lines
"""For the case page's offer (templates get `views`)."""

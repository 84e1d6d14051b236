"""Ticket events that drive an open case: agents' and customers' comments and status changes, and
the intake file's rules that map them to steps (per source, `[zendesk.events]` / `[jira.events]`).

Defaults: an agent's first public reply acknowledges (its text is the message); a status such as
Zendesk `pending`/`hold` or Jira "Waiting for customer" pauses with that reason; a customer's reply
resumes a paused case and is always recorded as a customer message; `solved` does nothing (the
recovery path is not done when a ticket is). Comments the engine posted itself (they carry its
`recovery-ref:` marker, or come from the configured API user) are dropped here, so they never loop.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

MARKER = "recovery-ref:"
"""The line the engine ends its own ticket comments with (activities/channels/tickets.py)."""

TicketStep = Literal["acknowledge", "record_fix", "pause", "resume", "none"]


def _lower_keys(value: object) -> object:
    return {str(k).strip().lower(): v for k, v in value.items()} if isinstance(value, dict) else value


class EventRules(BaseModel):
    """What each kind of ticket event does to the case."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent_first_reply: Literal["acknowledge", "none"] = "acknowledge"
    """An agent's public reply while the case waits to be acknowledged."""
    agent_reply: Literal["record_fix", "none"] = "none"
    """An agent's public reply after that."""
    customer_reply: Literal["resume", "none"] = "resume"
    """Resume a paused case (the reply is recorded in the timeline either way)."""
    status: Annotated[dict[str, TicketStep], BeforeValidator(_lower_keys)] = {}
    """Ticket status (case-insensitive) → step: `pause`, `resume` or `none`."""

    def status_step(self, status: str) -> TicketStep:
        return self.status.get(status.strip().lower(), "none")


class ZendeskRules(EventRules):
    status: Annotated[dict[str, TicketStep], BeforeValidator(_lower_keys)] = {
        "pending": "pause",
        "hold": "pause",
        "on-hold": "pause",
        "solved": "none",
    }


class JiraRules(EventRules):
    status: Annotated[dict[str, TicketStep], BeforeValidator(_lower_keys)] = {"waiting for customer": "pause"}


class TicketActivity(BaseModel):
    """Something that happened on the ticket of an existing case."""

    source: str
    ticket_id: str
    event_id: Annotated[str, Field(min_length=1, max_length=200)]
    kind: Literal["agent_reply", "customer_reply", "status"]
    author: str | None = None
    """The platform's id of the comment's author."""
    text: str = ""
    status: str | None = None


class OwnEvent(BaseModel):
    """A ticket event the engine caused itself (its own comment): dropped, never a step."""

    reason: str


def is_own_comment(body: str, author: str | None, api_user: str | None) -> bool:
    return MARKER in body or (api_user is not None and author == api_user)

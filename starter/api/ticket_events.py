"""Ticket events that drive an open case (comments, status changes) → the steps the intake file's
rules name. The case is found through the event store (the ticket that opened it or added a
contact); a step the case refuses is recorded in its timeline as ignored, with the reason, and the
webhook is still answered 202 — a ticketing tool must never retry into a storm over it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client

from starter.cases import CaseError, accept_step
from starter.intake.events import EventRules, TicketActivity
from workflows.complaint import ComplaintWorkflow
from workflows.models import (
    AcknowledgeInput,
    Actor,
    CustomerMessageInput,
    FixInput,
    IgnoredEventInput,
    PauseInput,
    ResumeInput,
    workflow_id_for,
)

log = logging.getLogger("recovery.api")


class TicketEventResult(BaseModel):
    case_id: str | None
    event_id: str
    rule: str
    step: str
    applied: bool
    ignored: str | None = None
    """Why nothing changed: no rule, no case, or the case refused the step (then also in its timeline)."""


_FIND_CASE = """
SELECT c.workflow_id, c.case_id, c.step, c.paused FROM cases c
WHERE c.workflow_id IN (SELECT workflow_id FROM events WHERE type IN ('opened', 'contact_added')
                        AND data->>'source' = $1 AND data->>'ticket_id' = $2)
ORDER BY c.opened_at DESC LIMIT 1
"""


async def find_case(pool: Any, source: str, ticket_id: str) -> tuple[str, str | None]:
    """(workflow id, step from the read model) of the newest case of this ticket; without a read model
    row, the case key a ticket with no order gets (`<source>:<ticket id>`)."""
    if pool is not None:
        row = await pool.fetchrow(_FIND_CASE, source, ticket_id)
        if row is not None:
            return row["workflow_id"], row["step"]
    return workflow_id_for(f"{source}:{ticket_id}"), None


Update = Callable[..., Any]


def _plan(
    activity: TicketActivity, rules: EventRules, step: str | None, actor: Actor
) -> tuple[str, Update | None, Any]:
    """(rule name, the `ComplaintWorkflow` update to run or None, its input)."""
    if activity.kind == "customer_reply":
        return (
            "customer reply",
            ComplaintWorkflow.customer_message,
            CustomerMessageInput(
                event_id=activity.event_id,
                source=activity.source,
                text=activity.text[:4000],
                resume=rules.customer_reply == "resume",
            ),
        )
    if activity.kind == "status":
        status = activity.status or ""
        chosen = rules.status_step(status)
        rule = f"status {status}"
        if chosen == "pause":
            return rule, ComplaintWorkflow.pause, PauseInput(actor=actor, reason=f"ticket status {status}")
        if chosen == "resume":
            return rule, ComplaintWorkflow.resume, ResumeInput(actor=actor, note=f"ticket status {status}")
        return rule, None, None
    first = step in (None, "acknowledge")
    if first and rules.agent_first_reply == "acknowledge":
        return (
            "first agent reply",
            ComplaintWorkflow.acknowledge,
            AcknowledgeInput(actor=actor, message=activity.text[:4000]),
        )
    if rules.agent_reply == "record_fix" and activity.text.strip():
        return "agent reply", ComplaintWorkflow.record_fix, FixInput(actor=actor, description=activity.text[:4000])
    return "agent reply", None, None


async def apply_ticket_event(
    client: Client, pool: Any, activity: TicketActivity, rules: EventRules, agent_role: str
) -> TicketEventResult:
    workflow_id, step = await find_case(pool, activity.source, activity.ticket_id)
    case_id = workflow_id.removeprefix("complaint-")
    author = (activity.author or "unknown").replace(":", "_")[:60]
    actor = Actor(id=f"{activity.source}-{author}", role=agent_role)
    rule, update, inp = _plan(activity, rules, step, actor)
    name = update.__name__ if update is not None else "none"
    result = TicketEventResult(case_id=case_id, event_id=activity.event_id, rule=rule, step=name, applied=False)
    if update is None:
        result.ignored = f"no step for {rule} (intake rules)"
        return result
    try:
        await accept_step(client, workflow_id, update, inp)
    except CaseError as err:
        if err.code == "not_found":
            result.case_id, result.ignored = None, f"no case for {activity.source} ticket {activity.ticket_id}"
            return result
        result.ignored = err.message
        log.info(
            "ticket event ignored",
            extra={
                "case_id": case_id,
                "event_id": activity.event_id,
                "rule": rule,
                "step": name,
                "reason": err.message,
            },
        )
        if err.code != "closed":
            try:
                await accept_step(
                    client,
                    workflow_id,
                    ComplaintWorkflow.record_ignored,
                    IgnoredEventInput(
                        event_id=activity.event_id,
                        source=activity.source,
                        rule=rule,
                        step=name,
                        reason=err.message[:2000],
                    ),
                )
            except CaseError as again:  # e.g. closed meanwhile: the answer still says why
                log.warning(
                    "could not record an ignored ticket event", extra={"case_id": case_id, "reason": again.message}
                )
        return result
    result.applied = True
    return result

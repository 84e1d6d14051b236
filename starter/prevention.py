"""Prevention actions from the client side, shared by the API and the console: who may open and
close them, the checks of a new action's fields, the workflow's start and its `complete` update, and
a bounded wait for the read model to show the change."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, field_validator
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from starter.server_errors import CaseError, case_error
from workflows.models import Actor, Identifier, _Model
from workflows.prevention import PreventionActionWorkflow
from workflows.prevention_models import (
    CompleteInput,
    Description,
    Note,
    PreventionStart,
    PreventionState,
    check_cause,
)

PREFIX = "prevention-"
LEAD_ROLES = ("team-lead", "manager", "executive")
"""Who may open prevention actions (and close any): leads and managers (and above). An owner may close
their own."""
ACTION_ID_PATTERN = r"^prevention-[A-Za-z0-9._@-]{1,69}$"
MAX_DUE_DAYS = 366


class OpenAction(_Model):
    """A new prevention action (the API's body, the console's form, the CLI's flags): unknown fields
    and control characters are refused."""

    cause: str = Field(min_length=1, max_length=100, description="the root cause it addresses")
    description: Description
    owner: Identifier = Field(description="an agent id (agents file) or a roster person id")
    due: datetime = Field(description="when it must be done (ISO 8601 with a time zone, or a date: 17:00 UTC)")

    _cause = field_validator("cause")(lambda cls, v: check_cause(v))

    @field_validator("due", mode="before")
    @classmethod
    def _date_is_end_of_day(cls, value: Any) -> Any:
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            return value.strip() + "T17:00:00+00:00"
        return value

    @field_validator("due")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give the due date's time zone (e.g. 2026-12-20T17:00:00Z) or a plain date")
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("the due date must lie in the years 1-9999 in UTC") from None


class CompleteAction(_Model):
    note: Note = Field(description="what was changed")


class ActionRefused(ValueError):
    """A new action that cannot be opened (a field named, for a 422)."""


def may_lead(role: str) -> bool:
    return role in LEAD_ROLES


def known_owners(agents: Any, roster: Any) -> list[str]:
    """Every id that may own an action: the agents who may act, then the roster's people."""
    found = [agent_id for agent_id, role in agents.members() if role not in ("viewer", "intake")]
    if roster is not None:
        found += [p for p in sorted(roster.people) if p not in found]
    return found


def check_open(action: OpenAction, agents: Any, roster: Any, now: datetime) -> None:
    if action.owner not in known_owners(agents, roster):
        raise ActionRefused(f"owner: {action.owner!r} is neither an agent nor a person of the roster")
    if action.due <= now:
        raise ActionRefused(f"due: {action.due.isoformat()} is not in the future")
    if (action.due - now).days > MAX_DUE_DAYS:
        raise ActionRefused(f"due: more than {MAX_DUE_DAYS} days ahead")


def new_action_id(cause: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", cause.lower()).strip("-")[:40] or "cause"
    return f"{PREFIX}{slug}-{uuid.uuid4().hex[:8]}"


async def open_action(
    client: Client, queue: str, action: OpenAction, actor: Actor, ladder: list[str] | None = None
) -> PreventionState:
    """Start the action's workflow; its first state (the workflow projects it to the read model)."""
    action_id = new_action_id(action.cause)
    start = PreventionStart(
        action_id=action_id,
        cause=action.cause,
        description=action.description,
        owner=action.owner,
        due=action.due,
        opened_by=actor,
        ladder=ladder or ["team-lead", "manager"],
        lead_roles=list(LEAD_ROLES),
    )
    try:
        await client.start_workflow(
            PreventionActionWorkflow.run,
            start,
            id=action_id,
            task_queue=queue,
            static_summary=f"Prevention {action.cause}: owner {action.owner}, due {action.due:%Y-%m-%d}",
        )
    except WorkflowAlreadyStartedError:
        raise CaseError("conflict", f"prevention action {action_id} exists already") from None
    except RPCError as err:
        raise case_error(err, action_id) from None
    return PreventionState(
        action_id=action_id,
        cause=action.cause,
        description=action.description,
        owner=action.owner,
        due=action.due,
        opened_by=actor.id,
        opened_at=datetime.now(UTC),
    )


async def complete_action(client: Client, action_id: Identifier, note: str, actor: Actor) -> PreventionState:
    """Close the action with its note (the workflow's `complete` update)."""
    handle = client.get_workflow_handle(action_id)
    try:
        return await handle.execute_update(
            "complete", CompleteInput(note=note, actor=actor), result_type=PreventionState
        )
    except (WorkflowUpdateFailedError, RPCError) as err:
        error = case_error(err, action_id)
        if error.code == "not_found" and await _exists(handle):
            error = CaseError("closed", "")  # it finished while the update was on its way
        if error.code == "not_found":
            error = CaseError("not_found", f"no prevention action {action_id}")
        if error.code == "closed":
            error = CaseError("closed", f"prevention action {action_id} is already done")
        raise error from None


async def _exists(handle: WorkflowHandle[Any, Any]) -> bool:
    try:
        await handle.describe()
    except RPCError:
        return False
    return True


async def wait_for_version(pool: Any, action_id: str, version: int, timeout: float = 3.0) -> bool:
    """Whether the read model shows the action at `version` or later within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = await pool.fetchval("SELECT version FROM prevention_actions WHERE action_id = $1", action_id)
        if found is not None and found >= version:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)

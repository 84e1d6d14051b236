"""Prevention actions (a lead's fix for a root cause): open one (leads and managers), close it with
a note (a lead or its owner), list them with their effect. Writes go to the action's workflow
(`PreventionActionWorkflow`); reads come from the read model (`prevention_actions`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request

from recovery.prevention import EFFECT_WEEKS, MAX_EFFECT_WEEKS, ActionItem, actions
from starter.api.auth import Agent, Reader
from starter.api.errors import ApiError
from starter.api.outage import READ_FAILED
from starter.api.settings import settings_of, temporal
from starter.prevention import (
    ACTION_ID_PATTERN,
    ActionRefused,
    CompleteAction,
    OpenAction,
    check_open,
    complete_action,
    may_lead,
    open_action,
    wait_for_version,
)
from workflows.prevention_models import PreventionState

router = APIRouter(tags=["prevention"])
NOT_SHOWN_YET: tuple[type[Exception], ...] = (*READ_FAILED, ApiError)
"""The read model cannot show the change now (down, or no pool could be made)."""
ActionId = Annotated[str, Path(pattern=ACTION_ID_PATTERN, description="the action's id, prevention-…")]


async def _shown(request: Request, state: PreventionState) -> None:
    """Read your own write: wait (bounded) until the read model holds the change."""
    settings = settings_of(request)
    if settings.database is None:
        return
    try:
        await wait_for_version(await settings.database(), state.action_id, state.version)
    except NOT_SHOWN_YET:
        pass  # recorded in Temporal; the read model catches up when PostgreSQL is back


@router.post(
    "/v1/prevention",
    status_code=201,
    response_model=PreventionState,
    summary="Open a prevention action for a root cause (team leads and managers)",
)
async def open_prevention(request: Request, body: OpenAction, actor: Agent) -> PreventionState:
    """The owner (an agent or a roster person) is reminded before `due`; a missed due date is
    escalated up the ladder; `POST /v1/prevention/{id}/complete` closes it with a note."""
    if not may_lead(actor.role):
        raise ApiError(403, "forbidden", f"role {actor.role!r} may not open prevention actions (leads and managers)")
    settings = settings_of(request)
    try:
        check_open(body, settings.agents, settings.roster, settings.clock())
    except ActionRefused as err:
        raise ApiError(422, "validation", str(err)) from None
    ladder = [r for r in settings.policy.escalation.ladder[:2]] or None
    state = await open_action(await temporal(request), settings.task_queue, body, actor, ladder)
    await _shown(request, state)
    return state


@router.post(
    "/v1/prevention/{action_id}/complete",
    response_model=PreventionState,
    summary="Close a prevention action with a note of what was changed (a lead or its owner)",
)
async def complete_prevention(
    request: Request, action_id: ActionId, body: CompleteAction, actor: Agent
) -> PreventionState:
    state = await complete_action(await temporal(request), action_id, body.note, actor)
    await _shown(request, state)
    return state


@router.get(
    "/v1/prevention",
    response_model=list[ActionItem],
    summary="Prevention actions: open (due soon, overdue) and done, each done one with its cause's "
    "closed cases per week in the N weeks before and after it",
)
async def list_prevention(
    request: Request,
    _: Reader,
    state: Literal["open", "due_soon", "overdue", "done"] | None = None,
    cause: Annotated[str | None, Query(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")] = None,
    weeks: Annotated[int, Query(ge=1, le=MAX_EFFECT_WEEKS)] = EFFECT_WEEKS,
) -> list[ActionItem]:
    settings = settings_of(request)
    if settings.database is None:
        raise ApiError(503, "unavailable", "no database configured for prevention actions")
    try:
        found = await actions(await settings.database(), weeks=weeks)
    except READ_FAILED as err:
        raise ApiError(503, "unavailable", f"PostgreSQL is unavailable: {err}") from None
    return [a for a in found if (state is None or a.state == state) and (cause is None or a.cause == cause)]

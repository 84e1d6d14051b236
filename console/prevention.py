"""The console's prevention actions: `/prevention` (open, due soon, overdue, and done with their
effect), `/prevention/new?cause=…` (the form to open one, the link an alert or the causes page
gives), and the posts that open and close them. Leads and managers open them; a lead or the owner
closes one with a note. Reads come from the read model; writes go to the action's workflow."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from recovery.prevention import actions
from recovery.validation import describe_validation_error
from starter.api.errors import CASE_ERROR_STATUS
from starter.api.outage import UNREACHABLE
from starter.cases import CaseError
from starter.prevention import (
    ACTION_ID_PATTERN,
    ActionRefused,
    OpenAction,
    check_open,
    complete_action,
    known_owners,
    may_lead,
    open_action,
    wait_for_version,
)
from workflows.models import Actor

GROUPS = (
    ("overdue", "Overdue"),
    ("due_soon", "Due soon (within 2 days)"),
    ("open", "Open"),
    ("done", "Done"),
)
FIELDS = ("cause", "description", "owner", "due")


def add_routes(
    router: APIRouter,
    *,
    settings: Any,
    temporal: Callable[[], Awaitable[Any]],
    page: Callable[..., Response],
    signed_in: Callable[[Request], Awaitable[Any]],
    form_of: Callable[[Request], Awaitable[dict[str, str]]],
    csrf_ok: Callable[[Any, dict[str, str]], bool],
    refused_csrf: Callable[[Request, Any], Response],
    database: Callable[[], Awaitable[Any]],
) -> None:
    action_id_ok = re.compile(ACTION_ID_PATTERN)

    def owners() -> list[str]:
        return known_owners(settings.agents, settings.roster)

    def new_form(
        request: Request, session: Any, form: dict[str, str], error: str | None = None, status: int = 200
    ) -> Response:
        return page(
            "prevention_new.html",
            request,
            session,
            status,
            form=form,
            owners=owners(),
            error=error,
            may_open=may_lead(session.role),
        )

    async def list_page(
        request: Request, session: Any, status: int = 200, notice: str | None = None, error: str | None = None
    ) -> Response:
        found = await actions(await database())
        groups = [(key, title, [a for a in found if a.state == key]) for key, title in GROUPS]
        return page(
            "prevention.html",
            request,
            session,
            status,
            groups=groups,
            notice=notice,
            error=error,
            may_open=may_lead(session.role),
            me_lead=may_lead(session.role),
        )

    @router.get("/prevention")
    async def prevention_page(request: Request, opened: str = "", done: str = "") -> Response:
        session = await signed_in(request)
        notice = None
        if opened and action_id_ok.match(opened):
            notice = f"Prevention action {opened} is open; its owner is reminded before the due date."
        elif done and action_id_ok.match(done):
            notice = f"Prevention action {done} is done."
        return await list_page(request, session, notice=notice)

    @router.get("/prevention/new")
    async def prevention_new(request: Request, cause: str = "") -> Response:
        session = await signed_in(request)
        form = {"cause": cause.strip()[:100], "description": "", "owner": "", "due": ""}
        if not may_lead(session.role):
            return new_form(
                request,
                session,
                form,
                f"Role “{session.role}” may not open prevention actions (team leads and managers do).",
                403,
            )
        return new_form(request, session, form)

    @router.post("/prevention")
    async def prevention_open(request: Request) -> Response:
        session = await signed_in(request)
        posted = await form_of(request)
        if not csrf_ok(session, posted):
            return refused_csrf(request, session)
        form = {k: posted.get(k, "")[:2000] for k in FIELDS}
        if not may_lead(session.role):
            return new_form(request, session, form, f"Role “{session.role}” may not open prevention actions.", 403)
        try:
            action = OpenAction.model_validate(form)
            check_open(action, settings.agents, settings.roster, settings.clock())
        except ValidationError as err:
            return new_form(request, session, form, describe_validation_error(err), 422)
        except ActionRefused as err:
            return new_form(request, session, form, str(err).capitalize() + ".", 422)
        actor = Actor(id=session.agent, role=session.role)
        ladder = list(settings.policy.escalation.ladder[:2]) or None
        try:
            state = await open_action(await temporal(), settings.task_queue, action, actor, ladder)
        except CaseError as err:
            return new_form(request, session, form, err.message, CASE_ERROR_STATUS.get(err.code, 409))
        try:
            await wait_for_version(await database(), state.action_id, state.version)
        except UNREACHABLE:
            pass  # recorded in Temporal; the page says what the read model has
        return RedirectResponse("/prevention?" + urlencode({"opened": state.action_id}), status_code=303)

    @router.post("/prevention/{action_id}/done")
    async def prevention_done(request: Request, action_id: str) -> Response:
        session = await signed_in(request)
        posted = await form_of(request)
        if not csrf_ok(session, posted):
            return refused_csrf(request, session)
        if not action_id_ok.match(action_id):
            return await list_page(request, session, 404, error=f"There is no prevention action {action_id[:80]!r}.")
        note = posted.get("note", "").strip()
        if not note:
            return await list_page(request, session, 422, error="Say what was changed: the note is required.")
        try:
            state = await complete_action(
                await temporal(), action_id, note[:2000], Actor(id=session.agent, role=session.role)
            )
        except CaseError as err:
            return await list_page(request, session, CASE_ERROR_STATUS.get(err.code, 409), error=err.message)
        except ValueError as err:  # the note as the workflow's input (control characters)
            return await list_page(request, session, 422, error=str(err))
        try:
            await wait_for_version(await database(), state.action_id, state.version)
        except UNREACHABLE:
            pass
        return RedirectResponse("/prevention?" + urlencode({"done": state.action_id}), status_code=303)

"""Intake routes: generic ticket events and signed Zendesk/Jira webhooks open cases or add contacts."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from starter import intake
from starter.api.auth import TicketSender
from starter.api.bodies import BodyRefused, check_body
from starter.api.errors import ApiError
from starter.api.replays import Duplicate, SeenWebhooks, duplicate_response
from starter.api.settings import settings_of, temporal
from starter.api.ticket_events import TicketEventResult, apply_ticket_event
from starter.cases import open_case
from workflows.models import ContactResult, TicketEvent

router = APIRouter(tags=["intake"])
log = logging.getLogger("recovery.api")
T = TypeVar("T")
R = TypeVar("R", bound=BaseModel)


class Ignored(BaseModel):
    ignored: str


async def _open(request: Request, ticket: TicketEvent) -> ContactResult:
    settings = settings_of(request)
    return await open_case(
        await temporal(request), ticket, settings.policies or settings.policy, settings.task_queue, settings.database
    )


@router.post(
    "/v1/tickets",
    status_code=202,
    response_model=ContactResult,
    summary="Open a case from a generic ticket event, or add a repeat contact",
)
async def post_ticket(ticket: TicketEvent, request: Request, _: TicketSender) -> ContactResult:
    return await _open(request, ticket)


_WEBHOOK_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}}


@router.post(
    "/v1/webhooks/{source}",
    status_code=202,
    response_model=ContactResult | TicketEventResult | Ignored,
    summary="Signed ticket webhooks from Zendesk or Jira: open cases, drive their steps",
    openapi_extra=_WEBHOOK_BODY,
    responses={200: {"model": Duplicate, "description": "a delivery seen before: nothing changed"}},
)
async def post_webhook(source: str, request: Request) -> ContactResult | TicketEventResult | Ignored | JSONResponse:
    settings = settings_of(request)
    raw = await request.body()  # the signature covers these exact bytes: verify before parsing
    received = settings.clock()
    handle: Callable[[], Awaitable[ContactResult | TicketEventResult | Ignored]]
    if source == "zendesk" and settings.intake.zendesk is not None:
        config = settings.intake.zendesk
        _verified(source, lambda: intake.verify_zendesk(request.headers, raw, config, received))
        payload = _json_object(raw, settings.intake)
        key = intake.zendesk_event_key(payload, request.headers, raw)

        async def handle() -> ContactResult | TicketEventResult | Ignored:
            activity = _mapped(lambda: intake.zendesk_activity(payload, config))
            if activity is not None:
                return await _drive(request, activity, config.events)
            return await _open_ticket(request, _mapped(lambda: intake.zendesk_ticket(payload, config, received)))

    elif source == "jira" and settings.intake.jira is not None:
        jira = settings.intake.jira
        _verified(source, lambda: intake.verify_jira(request.headers, raw, jira))
        payload = _json_object(raw, settings.intake)
        key = intake.jira_event_key(payload, request.headers, raw)

        async def handle() -> ContactResult | TicketEventResult | Ignored:
            jira_event = _mapped(lambda: intake.jira_activity(payload, jira))
            if jira_event is not None:
                return await _drive(request, jira_event, jira.events)
            return await _open_ticket(
                request, _mapped(lambda: intake.jira_ticket(payload, request.headers, jira, received))
            )

    else:
        known = [name for name in ("zendesk", "jira") if getattr(settings.intake, name) is not None]
        raise ApiError(404, "not_found", f"unknown webhook source {source!r}; configured: {', '.join(known) or 'none'}")
    return await _once(request, source, key, received, handle)


async def _once(
    request: Request,
    source: str,
    key: str,
    received: datetime,
    handle: Callable[[], Awaitable[R]],
) -> R | JSONResponse:
    """`handle` the delivery unless its replay key was seen before (then 200 duplicate)."""
    settings = settings_of(request)
    seen: SeenWebhooks = request.app.state.seen_webhooks
    try:
        pool = await settings.database() if settings.database is not None else None
    except ApiError:  # PostgreSQL down: intake stays up, the steps stay guarded by the case
        pool = None
    if pool is None:
        return await handle()
    duplicate = await seen.claim(pool, source, key, received)
    if duplicate is not None:
        log.info("webhook replay ignored", extra={"source": source, "event_key": key})
        return duplicate_response(duplicate)
    try:
        return await handle()
    except BaseException:
        await seen.release(pool, source, key)  # not applied: the sender's retry must be
        raise


async def _open_ticket(request: Request, ticket: TicketEvent | None) -> ContactResult | Ignored:
    if ticket is None:
        return Ignored(ignored="event type does not open or add to a case")
    return await _open(request, ticket)


async def _drive(
    request: Request, activity: intake.TicketActivity | intake.OwnEvent, rules: intake.EventRules
) -> TicketEventResult | Ignored:
    if isinstance(activity, intake.OwnEvent):
        return Ignored(ignored=activity.reason)
    settings = settings_of(request)
    pool = await settings.database() if settings.database is not None else None
    return await apply_ticket_event(await temporal(request), pool, activity, rules, settings.policy.assignee_role)


def _verified(source: str, check: Callable[[], int]) -> None:
    try:
        secret = check()
    except intake.SignatureError as err:
        raise ApiError(401, "bad_signature", str(err)) from None
    if secret > 0:  # rotation: ops wait for these to stop before removing the old secret
        log.info("webhook signed with the old secret", extra={"source": source})


def _json_object(raw: bytes, limits: intake.IntakeConfig) -> dict[str, Any]:
    try:  # the middleware checked already (BodyLimit); the same check again, next to the parse
        check_body(raw, limits.max_body_bytes, limits.max_body_depth)
    except BodyRefused as refused:
        raise ApiError(refused.status, refused.error, refused.detail) from None
    try:
        payload = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "bad_request", "body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "bad_request", "body must be a JSON object")
    return payload


def _mapped(mapping: Callable[[], T]) -> T:
    try:
        return mapping()
    except intake.PayloadError as err:
        raise ApiError(422, "validation", str(err)) from None

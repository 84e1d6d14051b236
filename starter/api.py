"""The HTTP API (`recovery api`): ticket intake, signed Zendesk and Jira webhooks, and agents' steps.

FastAPI, because it gives request validation from the same pydantic models the workflow uses and
publishes the OpenAPI schema at /openapi.json. Every error is JSON `{error, detail}`; client input
never produces a 500.
"""

import asyncio
import base64
import binascii
import json
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from activities.store.reports import SlaReport, sla_report
from starter import intake
from starter.agents import INTAKE, VIEWER, AgentDirectory
from starter.cases import CaseError, open_case, run_step, status, timeline
from workflows import search_attributes as sa
from workflows.converter import describe_validation_error
from workflows.models import (
    AcknowledgeInput,
    Actor,
    ApprovalInput,
    CaseStatus,
    CloseInput,
    CompensateInput,
    CompensationKind,
    DomainEvent,
    FixInput,
    FollowUpInput,
    FollowUpOutcome,
    Identifier,
    PauseInput,
    ResumeInput,
    TicketEvent,
)
from workflows.money import Money
from workflows.policy import Policy, Severity, Step

log = logging.getLogger("recovery.api")


# ---- error model ----------------------------------------------------------------------------

class ErrorBody(BaseModel):
    error: str = Field(description="machine-readable kind, e.g. out_of_order, unauthorized, validation")
    detail: str = Field(description="what went wrong, for people")


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str):
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


_CASE_ERROR_STATUS = {"out_of_order": 409, "closed": 409, "conflict": 409, "not_ready": 409, "forbidden": 403,
                      "invalid": 422, "not_found": 404, "unavailable": 503}


def _error(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "detail": detail})


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text} for code, text in {
        400: "malformed JSON", 401: "missing or bad token or signature", 403: "not allowed for this agent",
        404: "unknown case or webhook source", 409: "step out of order, or case closed",
        413: "body over the size limit", 422: "invalid input", 503: "Temporal unreachable",
    }.items()
}


# ---- request and response bodies --------------------------------------------------------------

class _Body(BaseModel):
    # Unknown fields are ignored: in particular an `actor` in a body never names who acts.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class AcknowledgeBody(_Body):
    message: Annotated[str, Field(max_length=4000)] = ""


class FixBody(_Body):
    description: Annotated[str, Field(min_length=1, max_length=4000)]


class CompensationBody(_Body):
    kind: CompensationKind
    amount: Money | None = None
    reason: Annotated[str, Field(max_length=2000)] = ""
    reference: Annotated[str, Field(max_length=200)] | None = None


class ApprovalBody(_Body):
    approve: bool
    note: Annotated[str, Field(max_length=2000)] = ""


class FollowUpBody(_Body):
    outcome: FollowUpOutcome
    csat: Annotated[int, Field(ge=1, le=5)] | None = None
    note: Annotated[str, Field(max_length=4000)] = ""


class CloseBody(_Body):
    root_cause: Annotated[str, Field(min_length=1, max_length=100)]
    note: Annotated[str, Field(min_length=1, max_length=4000)]


class PauseBody(_Body):
    reason: Annotated[str, Field(min_length=1, max_length=4000)]


class ResumeBody(_Body):
    note: Annotated[str, Field(max_length=2000)] = ""


class IntakeResult(BaseModel):
    case_id: str
    workflow_id: str
    created: bool
    duplicate: bool
    contact_count: int


class Ignored(BaseModel):
    ignored: str


class ComplaintView(CaseStatus):
    timeline: list[DomainEvent]


class ComplaintSummary(BaseModel):
    case_id: str
    workflow_id: str
    status: str
    step: str | None
    severity: str | None
    escalation_level: int | None
    customer_id: str | None
    next_deadline: datetime | None


class ComplaintPage(BaseModel):
    complaints: list[ComplaintSummary]
    next_page_token: str | None


class Health(BaseModel):
    status: Literal["ok"]
    temporal: str


# ---- body size limit, enforced before the body is read ------------------------------------------

class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: 413 from Content-Length before reading, or as soon as a streamed body passes the limit."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _send_json(send, 400, "bad_request", "Content-Length is not a number")
                return
            if int(declared) > self.limit:
                await _send_json(send, 413, "too_large", f"body of {int(declared)} bytes is over the {self.limit}-byte limit")
                return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_json(send, 413, "too_large", f"body is over the {self.limit}-byte limit")


async def _send_json(send: Send, status: int, error: str, detail: str) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# ---- the app -----------------------------------------------------------------------------------

class ApiSettings(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    agents: AgentDirectory
    intake: intake.IntakeConfig
    policy: Policy
    task_queue: str = "recovery"
    database: Callable[[], Awaitable[Any]] | None = None
    """Returns the asyncpg pool for reports (lazily created)."""


def create_app(settings: ApiSettings, connect: Callable[[], Awaitable[Client]]) -> FastAPI:
    """The API. `connect` returns the Temporal client; it is called lazily and retried until it works,
    so the API starts (and /healthz answers 503) while Temporal is still coming up."""
    app = FastAPI(title="service-recovery", version="1", summary="Complaint intake and agents' recovery steps.",
                  responses=ERRORS)
    app.add_middleware(BodyLimit, limit=settings.intake.max_body_bytes)
    client_lock = asyncio.Lock()
    state: dict[str, Client] = {}

    async def temporal() -> Client:
        if "client" not in state:
            async with client_lock:
                if "client" not in state:
                    try:
                        state["client"] = await connect()
                    except Exception as err:
                        raise ApiError(503, "unavailable", f"Temporal is unreachable: {err}") from None
        return state["client"]

    # ---- errors: always {error, detail}

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, err: ApiError) -> JSONResponse:
        return _error(err.status, err.error, err.detail)

    @app.exception_handler(CaseError)
    async def _case_error(_: Request, err: CaseError) -> JSONResponse:
        return _error(_CASE_ERROR_STATUS.get(err.code, 409), err.code, err.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, err: RequestValidationError) -> JSONResponse:
        problems = err.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            return _error(400, "bad_request", "body is not valid JSON")
        parts = []
        for p in problems:
            where = ".".join(str(x) for x in p.get("loc", ()) if x != "body") or "body"
            parts.append(f"{where}: {str(p.get('msg', 'invalid')).removeprefix('Value error, ')}")
        return _error(422, "validation", "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, err: StarletteHTTPException) -> JSONResponse:
        names = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
        return _error(err.status_code, names.get(err.status_code, "http_error"), str(err.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, err: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=err)
        return _error(500, "internal", "unexpected server error; the request may be retried")

    # ---- authentication

    def agent(request: Request) -> Actor:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthorized", "missing bearer token (Authorization: Bearer <token>)")
        actor = settings.agents.authenticate(token.strip())
        if actor is None:
            raise ApiError(401, "unauthorized", "unknown bearer token")
        return actor

    def acting_agent(actor: Annotated[Actor, Depends(agent)]) -> Actor:
        if actor.role in (VIEWER, INTAKE) or actor.role not in settings.policy.roles:
            raise ApiError(403, "forbidden", f"role {actor.role!r} may not act on cases")
        return actor

    def reader(actor: Annotated[Actor, Depends(agent)]) -> Actor:
        if actor.role == INTAKE:
            raise ApiError(403, "forbidden", "role 'intake' may only post tickets")
        return actor

    def ticket_sender(actor: Annotated[Actor, Depends(agent)]) -> Actor:
        if actor.role == VIEWER:
            raise ApiError(403, "forbidden", "role 'viewer' may not post tickets")
        return actor

    # ---- intake

    async def _open(ticket: TicketEvent) -> IntakeResult:
        result = await open_case(await temporal(), ticket, settings.policy, settings.task_queue)
        return IntakeResult(**result.model_dump())

    @app.post("/v1/tickets", status_code=202, response_model=IntakeResult, tags=["intake"],
              summary="Open a case from a generic ticket event, or add a repeat contact")
    async def post_ticket(ticket: TicketEvent, _: Annotated[Actor, Depends(ticket_sender)]) -> IntakeResult:
        return await _open(ticket)

    webhook_body = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}}

    @app.post("/v1/webhooks/{source}", status_code=202, response_model=IntakeResult | Ignored, tags=["intake"],
              summary="Signed ticket webhooks from Zendesk or Jira", openapi_extra=webhook_body)
    async def post_webhook(source: str, request: Request) -> IntakeResult | Ignored:
        raw = await request.body()  # the signature covers these exact bytes: verify before parsing
        received = datetime.now(timezone.utc)
        if source == "zendesk" and settings.intake.zendesk is not None:
            config = settings.intake.zendesk
            _verified(lambda: intake.verify_zendesk(request.headers, raw, config, received))
            payload = _json_object(raw)
            ticket = _mapped(lambda: intake.zendesk_ticket(payload, config, received))
        elif source == "jira" and settings.intake.jira is not None:
            jira = settings.intake.jira
            _verified(lambda: intake.verify_jira(request.headers, raw, jira))
            payload = _json_object(raw)
            ticket = _mapped(lambda: intake.jira_ticket(payload, request.headers, jira, received))
        else:
            known = [name for name in ("zendesk", "jira") if getattr(settings.intake, name) is not None]
            raise ApiError(404, "not_found", f"unknown webhook source {source!r}; configured: {', '.join(known) or 'none'}")
        if ticket is None:
            return Ignored(ignored="event type does not open or add to a case")
        return await _open(ticket)

    # ---- agents' reads

    @app.get("/v1/complaints/{case_id}", response_model=ComplaintView, tags=["complaints"],
             summary="A case's status and timeline")
    async def get_complaint(case_id: str, _: Annotated[Actor, Depends(reader)]) -> ComplaintView:
        client = await temporal()
        current = await status(client, case_id)
        events = await timeline(client, case_id)
        return ComplaintView(**dict(current), timeline=events)

    @app.get("/v1/complaints", response_model=ComplaintPage, tags=["complaints"],
             summary="List cases by step, severity, escalation and customer")
    async def list_complaints(
        _: Annotated[Actor, Depends(reader)],
        step: Step | None = None,
        severity: Severity | None = None,
        escalated: bool | None = None,
        customer: Annotated[Identifier | None, Query()] = None,
        page_size: Annotated[int, Query(ge=1, le=500)] = 50,
        page_token: str | None = None,
    ) -> ComplaintPage:
        # Every value is an enum, a bool or a checked identifier: nothing free-form reaches the query.
        clauses = ["WorkflowType = 'ComplaintWorkflow'"]
        if step is not None:
            clauses.append(f"RecoveryStep = '{step.value}'")
        if severity is not None:
            clauses.append(f"RecoverySeverity = '{severity.value}'")
        if escalated is not None:
            clauses.append("EscalationLevel > 0" if escalated else "EscalationLevel = 0")
        if customer is not None:
            clauses.append(f"CustomerId = '{customer}'")
        token = None
        if page_token:
            try:
                token = base64.urlsafe_b64decode(page_token.encode())
            except (binascii.Error, ValueError):
                raise ApiError(422, "validation", "page_token is not a token from a previous page") from None
        client = await temporal()
        iterator = client.list_workflows(" AND ".join(clauses), page_size=page_size, next_page_token=token)
        try:
            await iterator.fetch_next_page()
        except Exception as err:
            raise ApiError(422 if token else 503, "validation" if token else "unavailable",
                           f"listing failed: {getattr(err, 'message', err)}") from None
        complaints = []
        for execution in iterator.current_page or []:
            attrs = execution.typed_search_attributes
            complaints.append(ComplaintSummary(
                case_id=execution.id.removeprefix("complaint-"), workflow_id=execution.id,
                status=execution.status.name if execution.status else "UNKNOWN",
                step=attrs.get(sa.RECOVERY_STEP), severity=attrs.get(sa.RECOVERY_SEVERITY),
                escalation_level=attrs.get(sa.ESCALATION_LEVEL), customer_id=attrs.get(sa.CUSTOMER_ID),
                next_deadline=attrs.get(sa.NEXT_DEADLINE),
            ))
        next_token = iterator.next_page_token
        return ComplaintPage(complaints=complaints,
                             next_page_token=base64.urlsafe_b64encode(next_token).decode() if next_token else None)

    # ---- agents' steps

    def step_route(path: str, update: str, body_type: type[_Body], input_type: type[BaseModel], summary: str) -> None:
        async def run(case_id: str, body: Any, actor: Annotated[Actor, Depends(acting_agent)]) -> CaseStatus:
            try:
                inp = input_type.model_validate({**body.model_dump(), "actor": actor.model_dump()})
            except ValidationError as err:
                raise ApiError(422, "validation", describe_validation_error(err)) from None
            return await run_step(await temporal(), case_id, update, inp)

        run.__annotations__["body"] = body_type  # one handler shape, each step's own body schema
        app.post(f"/v1/complaints/{{case_id}}/{path}", response_model=CaseStatus, tags=["steps"],
                 summary=summary, name=f"step_{update}")(run)

    step_route("acknowledge", "acknowledge", AcknowledgeBody, AcknowledgeInput, "Acknowledge and apologise")
    step_route("fix", "record_fix", FixBody, FixInput, "Record the fix")
    step_route("compensation", "compensate", CompensationBody, CompensateInput,
               "Propose compensation (issued at once within the agent's authority)")
    step_route("approval", "approve_compensation", ApprovalBody, ApprovalInput,
               "Approve or reject the pending compensation (not one's own)")
    step_route("follow-up", "complete_follow_up", FollowUpBody, FollowUpInput, "Record the follow-up's outcome")
    step_route("close", "close", CloseBody, CloseInput, "Close with a root cause")
    step_route("pause", "pause", PauseBody, PauseInput, "Pause while waiting on the customer")
    step_route("resume", "resume", ResumeBody, ResumeInput, "Resume a paused case")

    @app.get("/v1/reports/sla", response_model=SlaReport, tags=["reports"],
             summary="SLA attainment, timings, escalations, repeat contacts and compensation from the read model")
    async def report_sla(
        _: Annotated[Actor, Depends(reader)],
        since: datetime | None = None,
        until: datetime | None = None,
        top: Annotated[int, Query(ge=0, le=100)] = 5,
    ) -> SlaReport:
        if settings.database is None:
            raise ApiError(503, "unavailable", "no database configured for reports")
        try:
            return await sla_report(await settings.database(), since=since, until=until, top=top)
        except ValueError as err:
            raise ApiError(422, "validation", str(err)) from None

    @app.get("/healthz", response_model=Health, tags=["health"], summary="Liveness, including Temporal reachability")
    async def healthz() -> Health:
        client = await temporal()
        try:
            await asyncio.wait_for(client.workflow_service.get_system_info(GetSystemInfoRequest()), 5)
        except Exception as err:
            raise ApiError(503, "unavailable", f"Temporal is unreachable: {err}") from None
        return Health(status="ok", temporal=client.service_client.config.target_host)

    return app


def _verified(check: Callable[[], None]) -> None:
    try:
        check()
    except intake.SignatureError as err:
        raise ApiError(401, "bad_signature", str(err)) from None


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "bad_request", "body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "bad_request", "body must be a JSON object")
    return payload


def _mapped(mapping: Callable[[], TicketEvent | None]) -> TicketEvent | None:
    try:
        return mapping()
    except intake.PayloadError as err:
        raise ApiError(422, "validation", str(err)) from None


def settings_from_env() -> ApiSettings:
    from activities.store import create_pool
    from starter.agents import load_agents
    from workflows.policy import load_policy

    pools: list[Any] = []
    lock = asyncio.Lock()

    async def database() -> Any:
        async with lock:
            if not pools:
                try:
                    pools.append(await create_pool(max_size=4))
                except Exception as err:
                    raise ApiError(503, "unavailable", str(err)) from None
        return pools[0]

    return ApiSettings(agents=load_agents(), intake=intake.load_intake_config(), policy=load_policy(),
                       task_queue=os.environ.get("RECOVERY_TASK_QUEUE", "recovery"), database=database)

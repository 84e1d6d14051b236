"""Agents' reads: one case's status and timeline, and the case list (the read model; the visibility store
without a database)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from recovery.codec import EncryptionCodec
from starter.api.auth import Reader
from starter.api.erased import erased_at, gone
from starter.api.errors import ApiError
from starter.api.listing import ListFilters, is_read_model_token, list_cases
from starter.api.outage import UNREACHABLE
from starter.api.settings import CaseId, settings_of, temporal
from starter.cases import read_case, status, timeline
from workflows import search_attributes as sa
from workflows.models import CaseStatus, DomainEvent, Identifier, case_id_of
from workflows.policy import Severity, Step

router = APIRouter(tags=["complaints"])


class ComplaintView(CaseStatus):
    timeline: list[DomainEvent]


class Erased(BaseModel):
    error: str = "erased"
    detail: str
    erased_at: datetime


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


@router.get(
    "/v1/complaints/{case_id}",
    response_model=ComplaintView,
    summary="A case's status and timeline",
    responses={410: {"model": Erased, "description": "the case's customer data was erased"}},
)
async def get_complaint(case_id: CaseId, request: Request, _: Reader) -> ComplaintView | JSONResponse:
    settings = settings_of(request)
    client = await temporal(request)
    erased = None
    if settings.database is not None:
        erased = await erased_at(settings.database, case_id)
        # The read model first (CQRS): asking the workflow costs two queries, each a worker round trip
        # and a billable action; only a case the read model cannot answer for is asked.
        codec = client.data_converter.payload_codec
        policies = [settings.policy, *(settings.policies.policies.values() if settings.policies else ())]
        stored = await read_case(
            settings.database, case_id, policies, codec if isinstance(codec, EncryptionCodec) else None
        )
        if stored is not None:
            return ComplaintView(**dict(stored[0]), timeline=stored[1])
    if erased is not None:
        return gone(erased)  # never from Temporal: its history still holds the texts
    current = await status(client, case_id)
    events = await timeline(client, case_id, settings.database)
    return ComplaintView(**dict(current), timeline=events)


@router.get(
    "/v1/complaints", response_model=ComplaintPage, summary="List cases by step, severity, escalation and customer"
)
async def list_complaints(
    request: Request,
    _: Reader,
    step: Step | None = None,
    severity: Severity | None = None,
    escalated: bool | None = None,
    customer: Annotated[Identifier | None, Query()] = None,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    page_token: str | None = None,
) -> ComplaintPage:
    settings = settings_of(request)
    if settings.database is not None and (page_token is None or is_read_model_token(page_token)):
        # The read model (CQRS), as the console reads it; the visibility store only without a database.
        filters = ListFilters(
            step=step.value if step else None,
            severity=severity.value if severity else None,
            escalated=escalated,
            customer=customer,
        )
        try:
            listed = await list_cases(await settings.database(), filters, page_size, page_token)
        except ValueError as err:
            raise ApiError(422, "validation", str(err)) from None
        except (*UNREACHABLE, asyncpg.PostgresError) as err:
            raise ApiError(503, "unavailable", f"PostgreSQL is unavailable: {err}") from None
        return ComplaintPage(
            complaints=[
                ComplaintSummary(
                    case_id=r["case_id"],
                    workflow_id=r["workflow_id"],
                    status="COMPLETED" if r["closed_at"] is not None else "RUNNING",
                    step=r["step"],
                    severity=r["severity"],
                    escalation_level=r["escalation_level"],
                    customer_id=r["customer_id"],
                    next_deadline=r["due_at"],
                )
                for r in listed.rows
            ],
            next_page_token=listed.next_token,
        )
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
            token = base64.b64decode(page_token.encode(), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(422, "validation", "page_token is not a token from a previous page") from None
    client = await temporal(request)
    iterator = client.list_workflows(" AND ".join(clauses), page_size=page_size, next_page_token=token)
    try:
        await iterator.fetch_next_page()
    except Exception as err:
        raise ApiError(
            422 if token else 503,
            "validation" if token else "unavailable",
            f"listing failed: {getattr(err, 'message', err)}",
        ) from None
    complaints = []
    for execution in iterator.current_page or []:
        attrs = execution.typed_search_attributes
        complaints.append(
            ComplaintSummary(
                case_id=case_id_of(execution.id),
                workflow_id=execution.id,
                status=execution.status.name if execution.status else "UNKNOWN",
                step=attrs.get(sa.RECOVERY_STEP),
                severity=attrs.get(sa.RECOVERY_SEVERITY),
                escalation_level=attrs.get(sa.ESCALATION_LEVEL),
                customer_id=attrs.get(sa.CUSTOMER_ID),
                next_deadline=attrs.get(sa.NEXT_DEADLINE),
            )
        )
    next_token = iterator.next_page_token
    return ComplaintPage(
        complaints=complaints, next_page_token=base64.urlsafe_b64encode(next_token).decode() if next_token else None
    )

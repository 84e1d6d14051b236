"""Agents' steps: one POST route per step, each with its own body schema; the acting agent comes
from the bearer token, never from the body."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from recovery.converter import describe_validation_error
from starter.api.auth import Agent
from starter.api.errors import ApiError
from starter.api.settings import temporal
from starter.cases import run_step
from workflows.models import (
    AcknowledgeInput,
    ApprovalInput,
    CaseStatus,
    CloseInput,
    CompensateInput,
    CompensationKind,
    FixInput,
    FollowUpInput,
    FollowUpOutcome,
    PauseInput,
    ResumeInput,
)
from workflows.money import Money

router = APIRouter(tags=["steps"])


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


def step_route(path: str, update: str, body_type: type[_Body], input_type: type[BaseModel], summary: str) -> None:
    async def run(case_id: str, body: Any, request: Request, actor: Agent) -> CaseStatus:
        try:
            inp = input_type.model_validate({**body.model_dump(), "actor": actor.model_dump()})
        except ValidationError as err:
            raise ApiError(422, "validation", describe_validation_error(err)) from None
        return await run_step(await temporal(request), case_id, update, inp)

    run.__annotations__["body"] = body_type  # one handler shape, each step's own body schema
    router.post(f"/v1/complaints/{{case_id}}/{path}", response_model=CaseStatus, summary=summary,
                name=f"step_{update}")(run)


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

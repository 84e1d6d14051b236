"""Agents' steps: one POST route per step, each with its own body schema; the acting agent comes
from the bearer token, never from the body."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from recovery.validation import describe_validation_error
from starter.api.auth import Agent
from starter.api.errors import ApiError
from starter.api.settings import CaseId, settings_of, temporal
from starter.cases import run_step
from starter.steps import API_STEPS, AgentStep
from workflows.complaint import ComplaintWorkflow
from workflows.models import (
    ApplyPolicyInput,
    CaseStatus,
    CompensationKind,
    FollowUpOutcome,
    Identifier,
    RemedyOption,
    TicketEvent,
)
from workflows.money import Money
from workflows.policy import Severity

router = APIRouter(tags=["steps"])


class _Body(BaseModel):
    # Unknown fields are refused (422), a misspelt one as much as an `actor`: who acts comes from
    # the bearer token only.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AcknowledgeBody(_Body):
    message: Annotated[str, Field(max_length=4000)] = ""


class FixBody(_Body):
    description: Annotated[str, Field(min_length=1, max_length=4000)]


class CompensationBody(_Body):
    kind: CompensationKind
    amount: Money | None = None
    reason: Annotated[str, Field(max_length=2000)] = ""
    reference: Annotated[str, Field(max_length=200)] | None = None


class OfferBody(_Body):
    options: Annotated[list[RemedyOption], Field(min_length=2, max_length=4)]
    default: Annotated[
        int, Field(ge=1, le=4, description="the option (1-based) the policy may issue at the deadline")
    ] = 1
    choose_by: AwareDatetime | None = Field(None, description="the choice deadline (default: the policy's)")
    reason: Annotated[str, Field(max_length=2000)] = ""

    @field_validator("choose_by", mode="after")
    @classmethod
    def _has_a_utc_time(cls, value: datetime | None) -> datetime | None:
        return TicketEvent._has_a_utc_time(value) if value is not None else None


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


class SeverityBody(_Body):
    severity: Severity
    reason: Annotated[str, Field(min_length=1, max_length=4000)]


class PolicyBody(_Body):
    expected: Annotated[str, Field(max_length=200)] | None = None
    """`name@version` the caller means to apply; refused (409) when the API runs another one."""


class AssignBody(_Body):
    assignee: Identifier = Field(description="the agent who will own the case; your own id claims it")
    note: Annotated[str, Field(max_length=2000)] = ""


def _known_assignee(request: Request, body: Any) -> None:
    """The new owner must be an agent of the agents file who may work cases (the engine can't know)."""
    if isinstance(body, AssignBody):
        settings = settings_of(request)
        role = settings.agents.role_of(body.assignee)
        if role is None or role not in settings.policy.roles:
            raise ApiError(422, "validation", f"assignee: {body.assignee!r} is not an agent who may work cases")


# Each step's body: what the agent sends (the actor comes from the token). Keyed by update name.
BODIES: dict[str, type[_Body]] = {
    "acknowledge": AcknowledgeBody,
    "record_fix": FixBody,
    "compensate": CompensationBody,
    "offer": OfferBody,
    "approve_compensation": ApprovalBody,
    "complete_follow_up": FollowUpBody,
    "close": CloseBody,
    "pause": PauseBody,
    "resume": ResumeBody,
    "change_severity": SeverityBody,
    "assign": AssignBody,
}


def step_route(step: AgentStep, body_type: type[_Body]) -> None:
    async def run(case_id: CaseId, body: Any, request: Request, actor: Agent) -> CaseStatus:
        _known_assignee(request, body)
        try:
            inp = step.input.model_validate({**body.model_dump(), "actor": actor.model_dump()})
        except ValidationError as err:
            raise ApiError(422, "validation", describe_validation_error(err)) from None
        return await run_step(await temporal(request), case_id, step.update, inp)

    run.__annotations__["body"] = body_type  # one handler shape, each step's own body schema
    router.post(
        f"/v1/complaints/{{case_id}}/{step.path}",
        response_model=CaseStatus,
        summary=step.summary,
        name=f"step_{step.name}",
    )(run)


for _step in API_STEPS:
    step_route(_step, BODIES[_step.name])


@router.post(
    "/v1/complaints/{case_id}/policy",
    response_model=CaseStatus,
    name="step_apply_policy",
    summary="Move an open case onto the API's current policy (roles the case's policy allows)",
)
async def apply_policy(case_id: CaseId, body: PolicyBody, request: Request, actor: Agent) -> CaseStatus:
    """The policy is the one this API runs (RECOVERY_POLICY), never one from the request; the case
    records who moved it and from which policy version (`policy_applied` event)."""
    policy = settings_of(request).policy
    current = f"{policy.name}@{policy.version}"
    if body.expected is not None and body.expected != current:
        raise ApiError(409, "conflict", f"this API runs policy {current}, not {body.expected}")
    inp = ApplyPolicyInput(actor=actor, policy=policy)
    return await run_step(await temporal(request), case_id, ComplaintWorkflow.apply_policy, inp)

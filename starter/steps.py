"""The agents' steps, in one table: the CLI command, the workflow update (by reference), its input
type and, for the steps the HTTP API exposes, the route and its summary. The CLI's subcommands,
the API's step routes and the update each one runs are all derived from `AGENT_STEPS`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from workflows.complaint import ComplaintWorkflow
from workflows.models import (
    AcknowledgeInput,
    ApplyPolicyInput,
    ApprovalInput,
    AssignInput,
    ChangeSeverityInput,
    CloseInput,
    CompensateInput,
    FixInput,
    FollowUpInput,
    OfferInput,
    PauseInput,
    ResumeInput,
)


@dataclass(frozen=True)
class AgentStep:
    update: Callable[..., Any]
    """The `ComplaintWorkflow` update method, e.g. `ComplaintWorkflow.acknowledge`."""
    input: type[BaseModel]
    command: str | None
    """The `recovery` subcommand; None when the CLI does not offer it."""
    help: str = ""
    path: str | None = None
    """`POST /v1/complaints/{case_id}/<path>`; None when the API does not expose it."""
    summary: str = ""

    @property
    def name(self) -> str:
        """The update's name in Temporal (the method's name: no update is renamed)."""
        return self.update.__name__


AGENT_STEPS: tuple[AgentStep, ...] = (
    AgentStep(
        ComplaintWorkflow.acknowledge,
        AcknowledgeInput,
        "ack",
        "acknowledge the complaint and apologise",
        "acknowledge",
        "Acknowledge and apologise",
    ),
    AgentStep(ComplaintWorkflow.record_fix, FixInput, "fix", "record the fix", "fix", "Record the fix"),
    AgentStep(
        ComplaintWorkflow.compensate,
        CompensateInput,
        "compensate",
        "propose compensation (issued at once within your authority)",
        "compensation",
        "Propose compensation (issued at once within the agent's authority)",
    ),
    AgentStep(
        ComplaintWorkflow.offer,
        OfferInput,
        "offer",
        "offer the customer 2-4 remedies to choose from (each within your authority)",
        "offer",
        "Offer 2-4 remedies for the customer to choose (each within the agent's authority)",
    ),
    AgentStep(
        ComplaintWorkflow.approve_compensation,
        ApprovalInput,
        "approve",
        "approve (or --reject) the compensation waiting for approval",
        "approval",
        "Approve or reject the pending compensation (not one's own)",
    ),
    AgentStep(
        ComplaintWorkflow.complete_follow_up,
        FollowUpInput,
        "follow-up",
        "record the customer's answer to the follow-up",
        "follow-up",
        "Record the follow-up's outcome",
    ),
    AgentStep(
        ComplaintWorkflow.close,
        CloseInput,
        "close",
        "close with a root cause from the policy",
        "close",
        "Close with a root cause",
    ),
    AgentStep(
        ComplaintWorkflow.pause,
        PauseInput,
        "pause",
        "pause while waiting on the customer (deadlines stop)",
        "pause",
        "Pause while waiting on the customer",
    ),
    AgentStep(
        ComplaintWorkflow.resume, ResumeInput, "resume", "resume a paused case", "resume", "Resume a paused case"
    ),
    AgentStep(
        ComplaintWorkflow.assign,
        AssignInput,
        "assign",
        "give the case an owner (--to yourself claims it; owners and leads hand it on)",
        "assignment",
        "Claim the case, assign it to an agent, or hand it on (its owner or a lead)",
    ),
    AgentStep(
        ComplaintWorkflow.change_severity,
        ChangeSeverityInput,
        "severity",
        "change the severity (deadlines recomputed)",
        "severity",
        "Change the severity (deadlines recomputed, elapsed time kept)",
    ),
    # Its own command and route (the API applies its own policy, never one from the request):
    # `recovery apply-policy` (starter/cli/cases.py) and POST …/policy (starter/api/steps.py).
    AgentStep(ComplaintWorkflow.apply_policy, ApplyPolicyInput, None),
)

BY_COMMAND = {step.command: step for step in AGENT_STEPS if step.command}
API_STEPS = tuple(step for step in AGENT_STEPS if step.path)

"""The floor's activities (no-ops under the real activity names), its worker, its plan and its client calls."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.worker import Worker

from bench.common import run_update
from bench.floor_workflow import FloorWorkflow
from recovery.sandbox import sharing_workflow_modules
from workflows import search_attributes as sa
from workflows.complaint import CaseStart
from workflows.effects import (
    DELIVER,
    ISSUE_COMPENSATION,
    PLAN_AND_PROJECT,
    PLAN_DELIVERIES,
    PROJECT_EVENTS,
    SEND_NOTIFICATION,
)
from workflows.models import ContactInput, TicketEvent
from workflows.policy import Policy

# What a complaint lifecycle schedules per segment, as counted from a real history by `plan_from_history`
# (projection batches are the projector's, not a segment's). Used when no history was counted.
DEFAULT_PLAN: dict[str, list[str]] = {
    "start": [PLAN_DELIVERIES],
    "add_contact": [],
    "acknowledge": [PLAN_DELIVERIES],
    "record_fix": [PLAN_DELIVERIES],
    "compensate": [ISSUE_COMPENSATION, PLAN_DELIVERIES],
    "timer": [PLAN_DELIVERIES],
    "complete_follow_up": [],
    "close": [],
}


@activity.defn(name=SEND_NOTIFICATION)
async def noop_send(arg: dict[str, Any]) -> str:
    return "ok"


@activity.defn(name=PLAN_DELIVERIES)
async def noop_plan(arg: dict[str, Any]) -> dict[str, Any]:
    return {}


@activity.defn(name=PLAN_AND_PROJECT)
async def noop_plan_and_project(arg: dict[str, Any]) -> dict[str, Any]:
    return {"plan": {}, "projected": True}


@activity.defn(name=DELIVER)
async def noop_deliver(arg: dict[str, Any]) -> dict[str, Any]:
    return {"detail": "ok"}


@activity.defn(name=ISSUE_COMPENSATION)
async def noop_issue(arg: dict[str, Any]) -> dict[str, Any]:
    return {"reference": "ref", "agent_issued": False}


@activity.defn(name=PROJECT_EVENTS)
async def noop_project(arg: dict[str, Any]) -> int:
    return 0


def build_floor_worker(client: Client, queue: str, max_cached_workflows: int = 10000) -> Worker:
    """The same worker options as `worker.build_worker`, with the floor workflow and no-op activities."""
    return Worker(
        client,
        task_queue=queue,
        workflows=[FloorWorkflow],
        workflow_runner=sharing_workflow_modules(FloorWorkflow),
        activities=[noop_send, noop_plan, noop_plan_and_project, noop_deliver, noop_issue, noop_project],
        max_cached_workflows=max_cached_workflows,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


# ---- the plan, from a real history ------------------------------------------------------------


def history_shape(events: list[Any]) -> dict[str, Any]:
    """Counts of what a workflow's history holds: activities by type, timers, updates, total events."""
    activities: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for event in events:
        kind = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_").lower()
        counts[kind] += 1
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            activities[event.activity_task_scheduled_event_attributes.activity_type.name] += 1
    return {
        "history_events": len(events),
        "activities": dict(activities),
        "activities_total": sum(activities.values()),
        "timers_started": counts["timer_started"],
        "timers_fired": counts["timer_fired"],
        "timers_canceled": counts["timer_canceled"],
        "updates_accepted": counts["workflow_execution_update_accepted"],
        "workflow_tasks": counts["workflow_task_completed"],
        "search_attribute_upserts": counts["upsert_workflow_search_attributes"],
        "properties_modified": counts["workflow_properties_modified"],
        "markers": counts["marker_recorded"],
    }


def plan_from_history(events: list[Any]) -> dict[str, list[str]]:
    """Which activities each lifecycle segment schedules in a real complaint history: segments start at
    the workflow start, each accepted update (after the first workflow task), and each fired timer;
    projection batches are left to the floor's own projector."""
    plan: dict[str, list[str]] = {"start": []}
    segment = "start"
    tasks_started = 0
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            tasks_started += 1
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED and tasks_started <= 1:
            # The update of update-with-start is accepted in the first workflow task, whose commands are
            # the run's first drain (the update itself waits for the same lock): they belong to "start".
            plan.setdefault(event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name, [])
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            segment = event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
            plan.setdefault(segment, [])
        elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            segment = "timer"
            plan.setdefault(segment, [])
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            if name != PROJECT_EVENTS:
                plan[segment].append(name)
    return plan


# ---- client calls, mirroring starter.cases ------------------------------------------------------


def floor_id(case_key: str) -> str:
    return f"floor-{case_key}"


async def open_floor(
    client: Client,
    ticket: TicketEvent,
    policy: Policy,
    queue: str,
    plan: dict[str, list[str]],
    follow_up_seconds: float,
) -> dict[str, Any]:
    """The same update-with-start as `starter.cases.open_case` (same start options and payloads)."""
    start_input = CaseStart(ticket=ticket, policy=policy).model_dump(mode="json")
    start_input["plan"] = plan
    start_input["follow_up_seconds"] = follow_up_seconds
    start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
        "FloorWorkflow",
        start_input,
        id=floor_id(ticket.case_key),
        task_queue=queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        static_summary=f"Case {ticket.case_key} · {ticket.customer.name} · normal",
        static_details=f"**Subject:** {ticket.subject}\n\n**Ticket:** {ticket.source} {ticket.ticket_id}",
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.RECOVERY_STEP, "acknowledge"),
                SearchAttributePair(sa.RECOVERY_SEVERITY, "normal"),
                SearchAttributePair(sa.ESCALATION_LEVEL, 0),
                SearchAttributePair(sa.CUSTOMER_ID, ticket.customer.id),
                SearchAttributePair(sa.TICKET_SOURCE, ticket.source),
            ]
        ),
    )
    return await client.execute_update_with_start_workflow(
        "add_contact",
        ContactInput(ticket=ticket),
        start_workflow_operation=start,
        result_type=dict,
    )


async def step_floor(client: Client, case_key: str, update: str, inp: Any) -> dict[str, Any]:
    return await run_update(client, floor_id(case_key), update, inp)

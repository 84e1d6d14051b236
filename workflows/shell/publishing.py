"""What the UI shows of a case: search attributes, the current details, log lines and metrics per event."""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

from workflows import search_attributes as sa
from workflows.case import Case, format_moment
from workflows.models import CaseStatus, DomainEvent


class Publisher:
    """Shows changes in the UI once the workflow task's coroutines have yielded: one upsert for what
    several drains of one task changed, nothing for values the start (or the run continued from)
    already shows."""

    def __init__(self, case: Case, *, continued: bool) -> None:
        self._case = case
        self._dirty = False
        self._logged_seq = case.state.seq if continued else 0
        current = workflow.info().typed_search_attributes
        self._published: dict[str, Any] = {key.name: value for key in sa.ALL if (value := current.get(key)) is not None}

    @property
    def pending(self) -> bool:
        """A change not yet shown in the UI."""
        return self._dirty

    def mark(self) -> None:
        self._dirty = True

    async def run(self) -> None:
        while True:
            await workflow.wait_condition(lambda: self._dirty)
            self._dirty = False
            self.publish()

    def publish(self) -> None:
        case = self._case
        now = workflow.now()
        status = case.status(now)
        deadline = status.deadlines.due_at
        if (answer_due := case.follow_up_answer_due()) is not None:
            # The follow-up step's deadline is the customer's answer: shown from the step's start, so the
            # engine asking (on time) changes nothing in the UI and costs no upsert.
            deadline = answer_due
        values: dict[str, Any] = {
            sa.RECOVERY_STEP.name: status.step.value,
            sa.RECOVERY_SEVERITY.name: status.severity.value,
            sa.ESCALATION_LEVEL.name: status.escalation_level,
            sa.CUSTOMER_ID.name: status.customer_id,
            sa.TICKET_SOURCE.name: status.ticket_source,
            sa.NEXT_DEADLINE.name: deadline,
        }
        if status.assignee is not None:  # an owner is handed on, never removed
            values[sa.ASSIGNEE.name] = status.assignee
        keys = {key.name: key for key in sa.ALL}
        updates: list[SearchAttributeUpdate[Any]] = []
        for name, value in values.items():
            if self._published.get(name, "unset") != value:
                key = keys[name]
                updates.append(key.value_unset() if value is None else key.value_set(value))
        if updates:
            workflow.upsert_search_attributes(updates)
            self._published = values
        workflow.set_current_details(details(case, status))
        unlogged = status.last_event_seq - self._logged_seq
        for event in case.state.events[-unlogged:] if unlogged else []:
            # Ids, type and sequence only: event data holds customers' words (subjects, notes), and
            # logs are not encrypted. The data is in the timeline and the event store.
            workflow.logger.info(
                "case event %s #%d by %s",
                event.type,
                event.seq,
                event.actor,
                extra={"case_id": status.case_id, "event_type": event.type, "seq": event.seq, "actor": event.actor},
            )
            count(event, status)
        self._logged_seq = status.last_event_seq


def count(event: DomainEvent, status: CaseStatus) -> None:
    """The engine's own metrics (the SDK's workflow meter records nothing during replay)."""
    meter = workflow.metric_meter()
    if event.type == "opened":
        meter.create_counter("recovery_cases_opened", "cases opened").add(
            1, {"source": status.ticket_source, "severity": str(event.data.get("severity"))}
        )
    elif event.type == "escalated":
        meter.create_counter("recovery_escalations", "escalations").add(
            1, {"level": str(event.data.get("level")), "reason": str(event.data.get("reason"))}
        )
    elif event.type == "deadline_missed":
        meter.create_counter("recovery_breaches", "step deadlines missed").add(
            1, {"step": str(event.data.get("step")), "severity": status.severity.value}
        )
    elif event.type == "acknowledged":
        meter.create_histogram_float("recovery_time_to_acknowledge", "opened to acknowledged", "s").record(
            (event.at - status.opened_at).total_seconds(), {"severity": status.severity.value}
        )
    elif event.type == "compensation_issued":
        meter.create_counter("recovery_compensations_issued", "compensations issued").add(
            1, {"kind": str(event.data.get("kind"))}
        )


def details(case: Case, status: CaseStatus) -> str:
    policy = case.policy
    # The header repeats the static summary: a continued-as-new run has none of its own.
    lines = [
        f"**Case** {status.case_id} · {case.state.ticket.customer.name}",
        f"**Step:** {status.step.value}  ·  **severity:** {status.severity.value}",
    ]
    if status.paused:
        lines.append(f"**Paused:** {status.pause_reason}")
    elif status.deadlines.due_at is not None:
        lines.append(f"**Due:** {format_moment(status.deadlines.due_at, policy)}")
    if status.assignee:
        lines.append(f"**Owner:** {status.assignee}")
    pending = status.pending_compensation
    if pending is not None and pending.status == "outcome_unknown":
        lines.append(f"**Compensation:** {pending.kind.value} {pending.amount or ''} — outcome unknown, checking")
    if status.escalation_level:
        lines.append(f"**Escalation:** level {status.escalation_level} ({status.escalation_role})")
    lines.append(f"**Contacts:** {status.contact_count}  ·  **events:** {status.last_event_seq}")
    if status.root_cause:
        lines.append(f"**Root cause:** {status.root_cause}")
    return "\n\n".join(lines)

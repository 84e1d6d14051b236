"""The projector: new domain events to the event store, batched, beside (never blocking) agents' steps.

The event store's copy never has a gap: `projected_seq` only moves over events stored in one unbroken
run from it, so a batch stored after an earlier one failed is sent again with the earlier one (the
store takes each (workflow id, seq) once)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.case import Case
from workflows.effects import PROJECT_EVENTS, ProjectionBatch
from workflows.models import DomainEvent
from workflows.shell.start import PROJECT_RETRY


class Projector:
    def __init__(self, case: Case) -> None:
        self._case = case
        self._holds = 0
        """Plans (and issues, whose outcome's notice follows) in flight: they carry the events, so
        the projector waits for them rather than send the same events too."""
        self._sending_upto = 0
        """The highest sequence handed to a store in flight (a projector batch or a carried one)."""

    def done(self) -> bool:
        state = self._case.state
        return state.projected_seq >= state.seq

    def reserve(self) -> Callable[[], None]:
        """A hold until the returned release is called (for a plan that starts in a later step)."""
        self._holds += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._holds -= 1

        return release

    @contextmanager
    def hold(self) -> Iterator[None]:
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1

    def batch(self, events: list[DomainEvent]) -> ProjectionBatch:
        state = self._case.state
        return ProjectionBatch(
            workflow_id=state.workflow_id,
            case_id=state.case_id,
            events=events,
            status=self._case.status(workflow.now()),
        )

    def to_carry(self) -> list[DomainEvent]:
        """Events no store has been handed yet, now handed to the caller's carried batch."""
        state = self._case.state
        events = [e for e in state.events if e.seq > max(state.projected_seq, self._sending_upto)]
        if events:
            self._sending_upto = events[-1].seq
        return events

    def carried(self, events: list[DomainEvent], stored: bool) -> None:
        """A carried batch came back: stored, or not (the projector sends it on its own)."""
        if stored:
            self._stored(events)
        else:
            self._sending_upto = self._case.state.projected_seq

    def _stored(self, events: list[DomainEvent]) -> None:
        state = self._case.state
        if events and events[0].seq <= state.projected_seq + 1:
            state.projected_seq = max(state.projected_seq, events[-1].seq)

    async def run(self) -> None:
        state = self._case.state
        while True:
            await workflow.wait_condition(lambda: not self.done() and self._holds == 0)
            events = [e for e in state.events if e.seq > state.projected_seq]
            self._sending_upto = max(self._sending_upto, events[-1].seq)
            try:
                await workflow.execute_activity(
                    PROJECT_EVENTS,
                    self.batch(events),
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=PROJECT_RETRY,
                    summary=f"store events {events[0].seq}-{events[-1].seq}",
                )
            except ActivityError as err:
                # Only a non-retryable failure gets here (PROJECT_RETRY retries outages for ever): a
                # batch the store can never take must not keep the case from finishing. Alert, go on.
                workflow.logger.error(
                    "events %d-%d could not be stored: %s",
                    events[0].seq,
                    events[-1].seq,
                    err.cause or err,
                    extra={"case_id": state.case_id, "alert": "projection"},
                )
                workflow.metric_meter().create_counter(
                    "recovery_projection_failures", "event batches the event store refused"
                ).add(1)
            self._stored(events)

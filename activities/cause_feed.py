"""The projector's side of the repeat-mistake alerts: every stored `closed` event whose root cause
has an alert rule (`[[learning.alerts]]`) is signalled, with signal-with-start, to that cause's
`CauseWatchWorkflow` (workflows/cause_watch.py).

Called after the batch is stored, so a close reaches the watch only once it is in the event store;
a batch stored twice signals twice, which the watch counts once (it keeps the window's case ids).
Temporal unreachable is a retryable error: the batch goes again (the store takes each event once)
rather than a close being dropped, and it is never taken for a poison batch.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from workflows.effects import ProjectionBatch
from workflows.learning import CASE_CLOSED, CAUSE_WATCH, CaseClosed, LearningPolicy, WatchState, watch_id

log = structlog.get_logger("cause_watch")

SIGNAL_TIMEOUT = timedelta(seconds=10)


class CauseWatchFeed:
    def __init__(self, client: Client, task_queue: str, learning: LearningPolicy):
        self.client = client
        self.task_queue = task_queue
        self.learning = learning

    def closes_in(self, batch: ProjectionBatch) -> list[tuple[str, CaseClosed]]:
        """(cause, close) for each `closed` event of the batch whose cause has a rule."""
        closes = []
        for event in batch.events:
            cause = event.data.get("root_cause") if event.type == "closed" else None
            rule = self.learning.rule_for(cause) if isinstance(cause, str) and cause else None
            if cause and rule is not None:
                closes.append(
                    (
                        cause,
                        CaseClosed(case_id=batch.case_id, workflow_id=batch.workflow_id, closed_at=event.at, rule=rule),
                    )
                )
        return closes

    async def report(self, batch: ProjectionBatch) -> None:
        for cause, close in self.closes_in(batch):
            try:
                await self.client.start_workflow(
                    CAUSE_WATCH,
                    WatchState(cause=cause),
                    id=watch_id(cause),
                    task_queue=self.task_queue,
                    start_signal=CASE_CLOSED,
                    start_signal_args=[close],
                    static_summary=f"Repeat-mistake watch: {cause}",
                    rpc_timeout=SIGNAL_TIMEOUT,
                )
            except (RPCError, RuntimeError) as err:  # RuntimeError: the client could not (re)connect
                raise ApplicationError(
                    f"the close of {batch.workflow_id} did not reach {watch_id(cause)}: {err}",
                    type="CauseWatchUnreachable",
                ) from None
            log.info("close signalled", cause=cause, case_id=batch.case_id, workflow_id=batch.workflow_id)

"""`CauseWatchWorkflow`: one per root cause (`cause-watch-<cause>`), fed by the projector's
signal-with-start on every stored `closed` event (activities/cause_feed.py).

It keeps the current and the previous window's case ids (so a close signalled twice counts once),
alerts the cause's owner once when the current window reaches the rule's count, continues as new
when a window ends (and every `SIGNALS_PER_RUN` closes, or when the server suggests it), and ends
once two windows in a row saw no close: the next close starts it again. The alert's deliveries
are keyed `cause-watch-<cause>:<window start>` in the delivery log, so neither a replay, a restart,
nor a watch started again can send a window's alert twice.

AUTO_UPGRADE: a watch lives for weeks, longer than a build; any change to it must stay replay-safe
(`workflow.patched`).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, VersioningBehavior
from temporalio.exceptions import ActivityError

from workflows.effects import DELIVER, Delivery, DeliveryPlan, DeliveryReceipt
from workflows.learning import (
    CASE_CLOSED,
    CAUSE_WATCH,
    PLAN_CAUSE_ALERT,
    CaseClosed,
    CauseAlert,
    WatchState,
    WindowCount,
)

SIGNALS_PER_RUN = 500
"""Closes counted per run before continuing as new: bounds a busy cause's history."""

ALERT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=30,
    non_retryable_error_types=["ChannelRejected"],
)


@workflow.defn(name=CAUSE_WATCH, versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class CauseWatchWorkflow:
    @workflow.init
    def __init__(self, state: WatchState) -> None:
        self.state = state
        self.counted = 0

    @workflow.signal(name=CASE_CLOSED, description="A case closed with this watch's root cause (idempotent per case).")
    def case_closed(self, close: CaseClosed) -> None:
        self.state.pending.append(close)

    @workflow.query(name="window", description="The windows' case ids, whether this window alerted, pending closes.")
    def window(self) -> WatchState:
        return self.state

    @workflow.run
    async def run(self, state: WatchState) -> str:
        while True:
            try:
                await workflow.wait_condition(
                    lambda: bool(self.state.pending),
                    timeout=self._until_window_end(),
                    timeout_summary=f"{self.state.cause}: window ends",
                )
            except TimeoutError:
                pass
            while self.state.pending:
                alert = self._count(self.state.pending.pop(0))
                self.counted += 1
                if alert is not None:
                    await self._send(alert)
            if self._window_over():
                self._roll(self._rule_start())
                if self._idle():
                    return f"{self.state.cause}: two windows without a close"
                self._continue_as_new()
            if self.counted >= SIGNALS_PER_RUN or workflow.info().is_continue_as_new_suggested():
                self._continue_as_new()

    # ---- the windows ----------------------------------------------------------------------------

    def _count(self, close: CaseClosed) -> CauseAlert | None:
        rule = self.state.rule = close.rule
        start = rule.window_start(close.closed_at)
        if self.state.current is None or start > self.state.current.start:
            self._roll(start)
        current, previous = self.state.current, self.state.previous
        assert current is not None
        window = current if start == current.start else previous if previous and start == previous.start else None
        if window is None:
            workflow.logger.info("close older than the previous window: not counted", extra={"case": close.case_id})
            return None
        if close.case_id in window.cases:
            return None  # the projector stored a batch twice, or a worker retried it
        window.cases.append(close.case_id)
        if window is not current or current.alerted or len(current.cases) < rule.count:
            return None
        current.alerted = True
        return CauseAlert(
            cause=self.state.cause,
            window_start=current.start,
            within=rule.within,
            cases=list(current.cases),
            previous=len(previous.cases) if previous else 0,
            at=workflow.now(),
        )

    def _roll(self, start: datetime) -> None:
        """Make the window starting at `start` current; the old one stays as previous if adjacent."""
        current, rule = self.state.current, self.state.rule
        if current is not None and current.start == start:
            return
        adjacent = current is not None and rule is not None and rule.window_end(current.start) == start
        self.state.previous = current if adjacent else None
        self.state.current = WindowCount(start=start)

    def _rule_start(self) -> datetime:
        assert self.state.rule is not None
        return self.state.rule.window_start(workflow.now())

    def _until_window_end(self) -> timedelta | None:
        if self.state.current is None or self.state.rule is None:
            return None
        left = self.state.rule.window_end(self.state.current.start) - workflow.now()
        return max(left, timedelta(seconds=1))

    def _window_over(self) -> bool:
        current, rule = self.state.current, self.state.rule
        return current is not None and rule is not None and workflow.now() >= rule.window_end(current.start)

    def _idle(self) -> bool:
        windows = (self.state.current, self.state.previous)
        return not self.state.pending and not any(w is not None and w.cases for w in windows)

    def _continue_as_new(self) -> None:
        workflow.continue_as_new(self.state)

    # ---- the alert ------------------------------------------------------------------------------

    async def _send(self, alert: CauseAlert) -> None:
        plan = await workflow.execute_activity(
            PLAN_CAUSE_ALERT,
            alert,
            result_type=DeliveryPlan,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=ALERT_RETRY,
            summary=f"plan alert: {alert.cause}, {len(alert.cases)} closes",
        )
        deliveries = [d for target in plan.targets + plan.also for d in target.deliveries]
        if not deliveries:
            workflow.logger.warning("cause alert reaches nobody", extra={"cause": alert.cause, "why": plan.skipped})
        await asyncio.gather(*(self._deliver(d) for d in deliveries))

    async def _deliver(self, delivery: Delivery) -> None:
        try:
            await workflow.execute_activity(
                DELIVER,
                delivery,
                result_type=DeliveryReceipt,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=ALERT_RETRY,
                summary=f"alert {delivery.person or delivery.address} by {delivery.channel}",
            )
        except ActivityError as err:  # one channel refused for good: the others still go
            workflow.logger.warning("cause alert not delivered", extra={"key": delivery.key, "error": str(err.cause)})

"""The case's one lock, who waits for it, and when the run should continue as new."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio import workflow

from workflows.shell.start import MAX_UPDATES_PER_RUN


class Gate:
    """Agents' steps, contacts and timers change the case one at a time, under `lock`.

    `waiting` counts steps and contacts waiting for the lock (a timer's catch-up yields to them);
    `changes` grows with every change (the timer loop re-plans its next wakeup); `moving` is set
    while the run continues as new (validators turn new updates away)."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.waiting = 0
        self.changes = 0
        self.updates = 0
        self.moving = False
        self.erased = False
        """The customer's data was erased: continue as new at the next safe point, so the texts in
        this run's history never feed the next run's events."""

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """The lock, for an agent's step or a contact (counted as waiting until it has it)."""
        self.updates += 1
        self.waiting += 1
        try:
            await self.lock.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self.lock.release()

    def changed(self) -> None:
        self.changes += 1

    @staticmethod
    def upgrade_due() -> bool:
        """A newer build is the deployment's target: move onto it at the next safe point."""
        return workflow.info().is_target_worker_deployment_version_changed()

    def should_continue_as_new(self) -> bool:
        info = workflow.info()
        return (
            self.erased
            or info.is_continue_as_new_suggested()
            or self.updates >= MAX_UPDATES_PER_RUN
            or self.upgrade_due()
        )

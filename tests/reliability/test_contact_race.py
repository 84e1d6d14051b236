"""Contacts racing continue-as-new, on the real dev server and PostgreSQL: the worker holds each
continuing task open for 0.6 s (an interceptor blocks in `continue_as_new`), so the contacts in
flight meet the closing run every time — turned away as `moving`, or admitted to the run that then
closes ("workflow is closing") — and must all land once in the next run: each answered with its own
count, each stored once. Small scale (300 contacts at concurrency 10, continue-as-new every 300
history events or 500 updates) of `test_contact_storm.py`; about 30 s."""

from __future__ import annotations

import asyncio
import time
from typing import Any, NoReturn

import asyncpg
import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import (
    ContinueAsNewInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from activities.notifications import Notifier
from starter.cases import CaseError, open_case, status
from tests.helpers import WebhookReceiver, eventually, fast_policy, ticket
from worker import build_worker

CONTACTS, CONCURRENCY, HOLD = 300, 10, 0.6


class _HoldingOutbound(WorkflowOutboundInterceptor):
    def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
        if not workflow.unsafe.is_replaying():
            with workflow.unsafe.sandbox_unrestricted():
                time.sleep(HOLD)  # below the deadlock detector's 2 s: the task is slow, not stuck
        super().continue_as_new(input)


class _HoldingInbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_HoldingOutbound(outbound))


class HoldContinueAsNew(Interceptor):
    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> Any:
        return _HoldingInbound


@pytest.mark.timeout(300)
async def test_contacts_meeting_a_closing_run_land_once_in_the_next(
    client: Client, task_queue: str, receiver: WebhookReceiver, db: asyncpg.Pool
) -> None:
    notifier = Notifier(receiver.url)
    async with build_worker(client, pool=db, queue=task_queue, notifier=notifier, interceptors=[HoldContinueAsNew()]):
        policy = fast_policy(ack="30d", fix="30d", max_silence="30d")
        opened = await open_case(client, ticket("race", customer="cust-race"), policy, task_queue)
        gate = asyncio.Semaphore(CONCURRENCY)
        counted: list[int] = []
        faults: list[str] = []

        async def contact(n: int) -> None:
            async with gate:
                try:
                    result = await open_case(
                        client, ticket("race", customer="cust-race", event=f"race-{n}"), policy, task_queue
                    )
                except CaseError as err:
                    faults.append(f"race-{n}: {err.code} {err.message}")
                    return
                assert not result.duplicate, result
                counted.append(result.contact_count)

        await asyncio.gather(*(contact(n) for n in range(CONTACTS)))
        final = await status(client, opened.case_id)
        runs = [run async for run in client.list_workflows(f"WorkflowId = '{opened.workflow_id}'")]

        async def stored() -> dict[str, int]:
            rows = await db.fetch(
                "SELECT data->>'event_id' AS event_id, count(*) AS n FROM events "
                "WHERE workflow_id = $1 AND type = 'contact_added' GROUP BY 1",
                opened.workflow_id,
            )
            times = {r["event_id"]: r["n"] for r in rows}
            return times if len(times) >= CONTACTS else {}

        times = await eventually(stored, timeout=60, interval=0.5)
    assert faults == []
    assert len(runs) > 1
    assert sorted(counted) == list(range(2, CONTACTS + 2))  # each its own count, once
    assert final.contact_count == CONTACTS + 1
    assert times == {f"race-{n}": 1 for n in range(CONTACTS)}  # stored once each, none lost

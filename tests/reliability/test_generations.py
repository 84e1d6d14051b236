"""Never lose a complaint, never reuse a key, on the real dev server and PostgreSQL:

* a new complaint arriving while a closed case's workflow is still finishing (its projection waiting
  for a PostgreSQL that is down) opens the next generation instead of being answered "duplicate";
* a closed case purged by namespace retention is never started again: the next complaint gets the
  next generation, its own ledger row, and is paid;
* a ticket with a NUL character (which PostgreSQL cannot store) that reached a case does not wedge
  it: its events are stored, it finishes after `close`, and the next complaint opens `~2`.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from starter.cases import _update_with_start, open_case, run_step, status
from tests.conftest import _with_database
from tests.helpers import AGENT, eventually, fast_policy, ticket
from workflows.models import (
    AcknowledgeInput,
    CloseInput,
    CompensateInput,
    FixInput,
    FollowUpInput,
    workflow_id_for,
)
from workflows.rules import PolicySet


async def close(client: Client, case: str, compensation: CompensateInput | None = None) -> None:
    await until_close(client, case, compensation)
    await run_step(client, case, "close", CloseInput(actor=AGENT, root_cause="other", note="ok"))


async def until_close(client: Client, case: str, compensation: CompensateInput | None = None) -> None:
    await run_step(client, case, "acknowledge", AcknowledgeInput(actor=AGENT))
    await run_step(client, case, "record_fix", FixInput(actor=AGENT, description="Done."))
    await run_step(client, case, "compensate", compensation or CompensateInput(actor=AGENT, kind="none", reason="n/a"))

    async def asked() -> bool:
        return (await status(client, case)).deadlines.follow_up_asked

    await eventually(asked, timeout=60)
    await run_step(client, case, "complete_follow_up", FollowUpInput(actor=AGENT, outcome="satisfied"))


async def finished(client: Client, workflow_id: str) -> bool:
    described = await client.get_workflow_handle(workflow_id).describe()
    return described.status == WorkflowExecutionStatus.COMPLETED


async def test_a_new_complaint_while_the_closed_case_waits_for_postgresql_opens_the_next_generation(
    client: Client, worker, task_queue: str, db: asyncpg.Pool, db_url: str, pg_server: str
) -> None:
    policy = fast_policy()
    opened = await open_case(client, ticket("pgdown", customer="cust-pgdown"), policy, task_queue)
    from urllib.parse import urlsplit

    name = urlsplit(db_url).path.lstrip("/")
    admin = await asyncpg.connect(_with_database(pg_server, "postgres"))
    await until_close(client, opened.case_id)
    try:
        # PostgreSQL goes away for this case's database: the projection retries, the case can't finish.
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
        await run_step(client, opened.case_id, "close", CloseInput(actor=AGENT, root_cause="other", note="ok"))
        await asyncio.sleep(2)
        assert not await finished(client, opened.workflow_id)  # closed, still waiting for the store

        new = await open_case(
            client, ticket("pgdown", customer="cust-pgdown", event="evt-second-complaint"), policy, task_queue
        )
        redelivered = await open_case(client, ticket("pgdown", customer="cust-pgdown"), policy, task_queue)
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
    # Before: {"duplicate": true} from the finishing case, and the complaint was gone.
    assert not new.duplicate and new.created and new.workflow_id == workflow_id_for(opened.case_id, 2)
    assert redelivered.duplicate and redelivered.workflow_id == opened.workflow_id
    await eventually(lambda: finished(client, opened.workflow_id), timeout=120, interval=0.5)


async def purge(client: Client, workflow_id: str) -> None:
    """Retention: Temporal forgets the closed case (the event store and ledger keep their rows)."""
    await eventually(lambda: finished(client, workflow_id), timeout=60)
    await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=client.namespace, workflow_execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )

    async def gone() -> bool:
        try:
            await client.get_workflow_handle(workflow_id).describe()
        except RPCError as err:
            return err.status == RPCStatusCode.NOT_FOUND
        return False

    await eventually(gone, timeout=60, interval=0.5)


async def test_the_operator_cli_never_reuses_a_case_purged_by_retention(
    client: Client, worker, task_queue: str, db: asyncpg.Pool, db_url: str, tmp_path: Path
) -> None:
    """`recovery open --operator` (straight to Temporal) asks the event store (DATABASE_URL) as the API does."""
    first = await open_case(client, ticket("purge-cli", customer="cust-purge-cli"), fast_policy(), task_queue)
    await close(client, first.case_id)
    await purge(client, first.workflow_id)

    later = tmp_path / "later.json"
    later.write_text(ticket("purge-cli", customer="cust-purge-cli", event="evt-cli-after-purge").model_dump_json())
    command = [sys.executable, "-m", "starter.cli", "open", "--file", str(later), "--json", "--operator"]
    command += ["--address", client.service_client.config.target_host, "--task-queue", task_queue]
    opened = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60, env={**os.environ, "DATABASE_URL": db_url}
    )
    assert opened.returncode == 0, opened.stderr
    # Before: generation 1 started again, with the purged case's sequence numbers and ledger keys.
    result = json.loads(opened.stdout)
    assert result["created"] and result["workflow_id"] == workflow_id_for(first.case_id, 2)


async def test_a_case_purged_by_retention_is_never_reused(
    client: Client, worker, task_queue: str, db: asyncpg.Pool
) -> None:
    async def database() -> Any:
        return db

    policy = fast_policy()
    coupon = CompensateInput(actor=AGENT, kind="coupon", amount={"amount": "10.00", "currency": "USD"})
    first = await open_case(client, ticket("purge", customer="cust-purge"), policy, task_queue, database)
    await close(client, first.case_id, coupon)
    await purge(client, first.workflow_id)

    second = await open_case(
        client, ticket("purge", customer="cust-purge", event="evt-after-purge"), policy, task_queue, database
    )
    # Before: generation 1 again, whose ledger key already had a `succeeded` row: nothing was paid.
    assert second.created and second.workflow_id == workflow_id_for(first.case_id, 2)
    await close(client, second.case_id, coupon)
    rows = await db.fetch("SELECT workflow_id, status FROM ledger WHERE customer_id = 'cust-purge' ORDER BY created_at")
    assert [(r["workflow_id"], r["status"]) for r in rows] == [
        (first.workflow_id, "succeeded"),
        (second.workflow_id, "succeeded"),
    ]


async def test_a_nul_in_the_ticket_does_not_wedge_the_case(
    client: Client, worker, task_queue: str, db: asyncpg.Pool
) -> None:
    policy = fast_policy()
    # Built past validation: the models refuse control characters outside the workflow now.
    poisoned = ticket("nul", customer="cust-nul").model_copy(update={"subject": "Broken\u0000glass"})
    # What older intake let through (open_case now refuses it: see tests/starter/test_api_robust.py).
    chosen, rule = PolicySet.single(policy).select(poisoned)
    opened = await _update_with_start(client, poisoned, chosen, rule, task_queue, workflow_id_for(poisoned.case_key))
    await close(client, opened.case_id)
    await eventually(lambda: finished(client, opened.workflow_id), timeout=60, interval=0.5)
    stored = await db.fetchval(
        "SELECT data->>'subject' FROM events WHERE workflow_id = $1 AND seq = 1", opened.workflow_id
    )
    assert stored == "Brokenglass"
    new = await open_case(client, ticket("nul", customer="cust-nul", event="evt-nul-2"), policy, task_queue)
    assert new.created and new.workflow_id == workflow_id_for(opened.case_id, 2)

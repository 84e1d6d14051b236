"""Erasure reaches open cases (Hardening, point 6): `recovery erase-customer` sends each open case
the `erase` update, and afterwards a canary name, e-mail and subject are in no API answer, console
page, PostgreSQL table or event of the case's new run — also after a later step — and the case
still runs to close; the closed runs are listed, and deleted with --delete-histories. Real Temporal
dev server and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from starter.cli import _main
from tests.api_helpers import api_client, api_settings
from tests.helpers import eventually
from tests.starter.test_api import ALICE, INTAKE, generic_ticket, wait_asked
from tests.starter.test_database_outage import HTML, sign_in

ROOT = Path(__file__).resolve().parents[2]
NAME, EMAIL, SUBJECT = "Zelda Canary", "zelda.canary@example.com", "canary subject broken lamp"
CANARIES = (NAME, EMAIL, SUBJECT, "canary description", "canary reply")


@pytest.fixture
async def api(client: Client, worker: object, task_queue: str, db: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(api_settings(task_queue, db), client) as http:
        yield http


async def every_table(db: asyncpg.Pool) -> str:
    """Every row of every table of the database, as text."""
    tables = await db.fetch(
        "SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
    )
    dump = []
    for table in tables:
        rows = await db.fetch(f'SELECT t::text AS row FROM "{table["schemaname"]}"."{table["tablename"]}" t')
        dump.extend(f"{table['tablename']}: {r['row']}" for r in rows)
    return "\n".join(dump)


async def history_text(client: Client, workflow_id: str, run_id: str | None = None) -> str:
    """The run's history as raw bytes (payloads are plain JSON without a codec), read as text."""
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    return History(events=history.events).SerializeToString().decode("latin-1")


async def assert_nowhere(api: httpx.AsyncClient, client: Client, db: asyncpg.Pool, case: str, workflow_id: str) -> None:
    answer = await api.get(f"/v1/complaints/{case}", headers=ALICE)
    assert answer.status_code in (200, 410), answer.text
    page = await api.get(f"/cases/{case}", headers=HTML)
    assert page.status_code == 200, page.text[:300]
    tables = await every_table(db)
    history = await history_text(client, workflow_id)
    for canary in CANARIES:
        assert canary not in answer.text, ("api", canary)
        assert canary not in page.text, ("console", canary)
        assert canary not in tables, ("database", canary, [line for line in tables.splitlines() if canary in line][:3])
        assert canary not in history, ("history of the new run", canary)


def erase_cli(client: Client, task_queue: str, customer: str, *flags: str) -> list[str]:
    return [
        "erase-customer",
        customer,
        "--by",
        "dpo@example.com",
        "--address",
        client.service_client.config.target_host,
        "--namespace",
        client.namespace,
        "--task-queue",
        task_queue,
        *flags,
    ]


async def test_erasure_reaches_an_open_case_and_it_still_runs_to_close(
    api: httpx.AsyncClient,
    client: Client,
    db: asyncpg.Pool,
    db_url: str,
    task_queue: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    customer = f"zelda-{uuid.uuid4().hex[:6]}"
    ticket = generic_ticket(customer, subject=SUBJECT, description="canary description")
    ticket["customer"].update(name=NAME, email=EMAIL)
    opened = await api.post("/v1/tickets", json=ticket, headers=INTAKE)
    assert opened.status_code == 202, opened.text
    case, workflow_id = opened.json()["case_id"], opened.json()["workflow_id"]
    assert (await api.post(f"/v1/complaints/{case}/acknowledge", json={}, headers=ALICE)).status_code == 200
    first_run = (await client.get_workflow_handle(workflow_id).describe()).run_id
    await sign_in(api)

    async def stored() -> bool:
        view = await api.get(f"/v1/complaints/{case}", headers=ALICE)
        return NAME in view.text and any(e["type"] == "acknowledged" for e in view.json()["timeline"])

    await eventually(stored)
    assert SUBJECT in (await api.get(f"/cases/{case}", headers=HTML)).text  # there until the erasure
    assert NAME in await every_table(db)

    capsys.readouterr()
    assert await asyncio.to_thread(_main, erase_cli(client, task_queue, customer)) == 0
    out = capsys.readouterr().out
    assert f"erased the open cases: {workflow_id}" in out, out
    assert f"{workflow_id} {first_run} continued_as_new" in out, out  # listed, not deleted
    described = await client.get_workflow_handle(workflow_id).describe()
    assert described.run_id != first_run and described.status == WorkflowExecutionStatus.RUNNING
    await assert_nowhere(api, client, db, case, workflow_id)
    view = (await api.get(f"/v1/complaints/{case}", headers=ALICE)).json()
    assert view["subject"] == "[erased]" and view["customer_name"] == "[erased]" and view["step"] == "fix"

    # A later step: its events and messages carry no erased text either.
    fixed = await api.post(f"/v1/complaints/{case}/fix", json={"description": "sent a new lamp"}, headers=ALICE)
    assert fixed.status_code == 200, fixed.text

    async def fix_stored() -> bool:
        rows = await db.fetchval(
            "SELECT count(*) FROM events WHERE workflow_id = $1 AND type = 'fix_recorded'", workflow_id
        )
        return bool(rows)

    await eventually(fix_stored)
    await assert_nowhere(api, client, db, case, workflow_id)

    # The case still runs to close.
    paid = await api.post(
        f"/v1/complaints/{case}/compensation", json={"kind": "none", "reason": "replaced"}, headers=ALICE
    )
    assert paid.status_code == 200, paid.text
    await wait_asked(api, case)
    satisfied = await api.post(f"/v1/complaints/{case}/follow-up", json={"outcome": "satisfied"}, headers=ALICE)
    assert satisfied.status_code == 200, satisfied.text
    closed = await api.post(f"/v1/complaints/{case}/close", json={"root_cause": "other", "note": "ok"}, headers=ALICE)
    assert closed.status_code == 200, closed.text

    async def completed() -> bool:
        return (await client.get_workflow_handle(workflow_id).describe()).status == WorkflowExecutionStatus.COMPLETED

    await eventually(completed, timeout=30)
    await assert_nowhere(api, client, db, case, workflow_id)

    # --delete-histories deletes every closed run of the customer's cases (the first one held the texts).
    assert NAME in await history_text(client, workflow_id, first_run)  # the texts are in the old run
    assert await asyncio.to_thread(_main, erase_cli(client, task_queue, customer, "--delete-histories")) == 0
    out = capsys.readouterr().out
    assert "deleted the histories of 2 closed runs" in out and first_run in out, out

    async def deleted() -> bool:  # the server deletes asynchronously (seconds on a busy dev server)
        for run_id in (first_run, None):
            try:
                await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
                return False
            except RPCError:
                continue
        return True

    await eventually(deleted, timeout=90, interval=0.5)

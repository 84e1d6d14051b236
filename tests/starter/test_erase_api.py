"""Erased means erased in the API too: after `erase-customer`, GET /v1/complaints/{closed case}
never falls back to the workflow (whose history still holds the name, subject, URL and notes);
it answers from the erased read model, else 410 with the erasure's date. Real Temporal dev server
and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from activities.store.privacy import erase_customer
from tests.api_helpers import api_client, api_settings
from tests.helpers import eventually
from tests.starter.test_api import ALICE, INTAKE, close_case, generic_ticket

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def api(client: Client, worker: object, task_queue: str, db: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(api_settings(task_queue, db), client) as http:
        yield http


async def test_an_erased_closed_case_is_410_and_never_read_from_temporal(
    api: httpx.AsyncClient, client: Client, db: asyncpg.Pool
) -> None:
    canary = f"canary{uuid.uuid4().hex[:10]}"
    customer = f"erase-{uuid.uuid4().hex[:6]}"
    ticket = generic_ticket(
        customer,
        subject=f"Subject {canary}",
        description=f"Description {canary}",
        url=f"https://tickets.example.com/{canary}",
    )
    ticket["customer"]["name"] = f"Name {canary}"
    opened = await api.post("/v1/tickets", json=ticket, headers=INTAKE)
    assert opened.status_code == 202, opened.text
    case, workflow_id = opened.json()["case_id"], opened.json()["workflow_id"]
    await close_case(api, case)

    async def finished() -> bool:
        described = await client.get_workflow_handle(workflow_id).describe()
        return described.status == WorkflowExecutionStatus.COMPLETED

    await eventually(finished, timeout=30)
    before = await api.get(f"/v1/complaints/{case}", headers=ALICE)
    assert before.status_code == 200 and canary in before.text  # the texts are there until the erasure

    erased = await erase_customer(db, customer, erased_by="dpo@example.com")
    assert erased.cases == 1
    after = await api.get(f"/v1/complaints/{case}", headers=ALICE)
    assert canary not in after.text
    assert after.status_code == 410, after.text
    body = after.json()
    assert body["error"] == "erased" and datetime.fromisoformat(body["erased_at"]).tzinfo is not None
    # By workflow id too, and for good: the erasure is recorded in the database.
    again = await api.get(f"/v1/complaints/{workflow_id}", headers=ALICE)
    assert again.status_code == 410 and canary not in again.text
    assert await db.fetchval("SELECT count(*) FROM erased_cases WHERE workflow_id = $1", workflow_id) == 1


async def test_a_case_never_erased_is_read_as_before(api: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    opened = await api.post("/v1/tickets", json=generic_ticket(f"kept-{uuid.uuid4().hex[:6]}"), headers=INTAKE)
    case = opened.json()["case_id"]
    await erase_customer(db, "someone-else", erased_by="dpo@example.com")
    view = await api.get(f"/v1/complaints/{case}", headers=ALICE)
    assert view.status_code == 200 and view.json()["case_id"] == case

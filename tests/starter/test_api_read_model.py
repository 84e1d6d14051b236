"""GET /v1/complaints/{id} reads the PostgreSQL read model (CQRS): no query, so no worker round trip and
no billable action; the remaining budget is as of now; a case the read model cannot answer for is asked
of its workflow as before."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from activities.notifications import Notifier
from starter.cases import as_of
from tests.api_helpers import api_client, api_settings
from tests.helpers import eventually, fast_policy
from worker import build_worker
from workflows.models import CaseStatus

ROOT = Path(__file__).resolve().parents[2]
ALICE = {"Authorization": "Bearer dev-alice-0123456789"}
INTAKE = {"Authorization": "Bearer dev-intake-012345678"}


@pytest.fixture
async def api_with_database(client: Client, task_queue: str, db: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(api_settings(task_queue, db), client) as http:
        yield http


def generic_ticket(customer: str) -> dict[str, Any]:
    return {
        "source": "generic",
        "event_id": f"evt-{uuid.uuid4().hex[:8]}",
        "ticket_id": f"T-{uuid.uuid4().hex[:8]}",
        "customer": {"id": customer, "name": "Dana Example", "email": "dana@example.com"},
        "order": {"id": "ord-1", "currency": "USD", "total": "120.00", "shipping": "10.00"},
        "subject": "Glass arrived broken",
        "occurred_at": "2026-11-20T10:00:00+00:00",
    }


async def test_a_case_is_read_from_the_read_model_with_no_worker_running(
    api_with_database: httpx.AsyncClient, client: Client, task_queue: str, db: asyncpg.Pool, receiver: Any
) -> None:
    api = api_with_database
    async with build_worker(client, pool=db, queue=task_queue, notifier=Notifier(receiver.url)):
        opened = await api.post("/v1/tickets", json=generic_ticket(f"rm-{uuid.uuid4().hex[:6]}"), headers=INTAKE)
        assert opened.status_code == 202, opened.text
        case = opened.json()["case_id"]
        acked = await api.post(f"/v1/complaints/{case}/acknowledge", json={"message": "Sorry!"}, headers=ALICE)
        assert acked.status_code == 200, acked.text
        seq = acked.json()["last_event_seq"]

        async def stored() -> bool:
            have = await db.fetchval(
                "SELECT last_seq FROM case_status WHERE workflow_id = $1", acked.json()["workflow_id"]
            )
            return have is not None and have >= seq

        await eventually(stored)
    # No worker polls the queue now: a query could not be answered, the read model can.
    view = await api.get(f"/v1/complaints/{case}", headers=ALICE)
    assert view.status_code == 200, view.text
    body = view.json()
    assert body["step"] == "fix" and body["last_event_seq"] == seq
    assert [e["type"] for e in body["timeline"]][:2] == ["opened", "acknowledged"]
    assert [e["seq"] for e in body["timeline"]] == list(range(1, seq + 1))
    due = datetime.fromisoformat(body["deadlines"]["due_at"])
    left = body["deadlines"]["remaining_seconds"]
    assert abs(left - (due - datetime.now(UTC)).total_seconds()) < 5  # as of now, not as of the step


async def test_a_case_the_read_model_lacks_is_asked_of_its_workflow(api_with_database: httpx.AsyncClient) -> None:
    missing = await api_with_database.get("/v1/complaints/nobody:nothing", headers=ALICE)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def _status(clock: str, policy: str, due: datetime | None, paused: bool = False) -> CaseStatus:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    return CaseStatus.model_validate(
        {
            "case_id": "c:1",
            "workflow_id": "complaint-c:1",
            "step": "fix",
            "severity": "normal",
            "escalation_level": 0,
            "escalation_role": None,
            "contact_count": 1,
            "paused": paused,
            "pause_reason": "waiting" if paused else None,
            "deadlines": {
                "step": "fix",
                "due_at": due.isoformat() if due else None,
                "remaining_seconds": 600.0,
                "clock": clock,
                "next_escalation_at": None,
                "next_warning_at": None,
            },
            "compensation": [],
            "pending_compensation": None,
            "customer_id": "c",
            "ticket_source": "generic",
            "subject": "s",
            "opened_at": now.isoformat(),
            "closed_at": None,
            "root_cause": None,
            "policy": policy,
            "last_event_seq": 2,
        }
    )


def test_the_remaining_budget_is_as_of_now() -> None:
    policy = fast_policy()
    ref = f"{policy.name}@{policy.version}"
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    wall = as_of(_status("wall", ref, now + timedelta(minutes=4)), [policy], now)
    assert wall is not None and wall.deadlines.remaining_seconds == 240.0
    late = as_of(_status("wall", "other@9", now - timedelta(seconds=30)), [], now)
    assert late is not None and late.deadlines.remaining_seconds == -30.0
    paused = _status("business", "other@9", None, paused=True)
    assert as_of(paused, [], now) is paused  # a stopped clock: as stored
    # a running business clock needs its calendar: a policy this API does not hold means "ask the workflow"
    assert as_of(_status("business", "other@9", now + timedelta(hours=1)), [policy], now) is None

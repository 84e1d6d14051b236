"""`GET /v1/complaints` with a database: the read model's cases, newest first, filtered, paged by a cursor.
The cases here exist only in the read model (projected, never started as workflows), so every one
listed comes from PostgreSQL, not from the visibility store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from temporalio.client import Client

from activities.store.projection import project
from tests.api_helpers import api_client, api_settings
from tests.helpers import fast_policy
from workflows.case import Case
from workflows.effects import ProjectionBatch
from workflows.models import AcknowledgeInput, Actor, TicketEvent

VIEWER = {"Authorization": "Bearer dev-viewer-012345678"}
T0 = datetime(2026, 10, 5, 9, tzinfo=UTC)


async def seed(db: asyncpg.Pool, tag: str) -> list[str]:
    """Five cases opened a minute apart: 0–2 of customer a, 3–4 of b; 1 acknowledged (step fix), 4 escalated."""
    policy = fast_policy(ack="1h", interval="1h")
    ids = []
    for n in range(5):
        opened_at = T0 + timedelta(minutes=n)
        ticket = TicketEvent.model_validate(
            {
                "source": "generic",
                "event_id": f"{tag}-{n}",
                "ticket_id": f"T-{n}",
                "customer": {"id": f"{tag}-{'a' if n < 3 else 'b'}", "name": "Listed"},
                "subject": "Late",
                "occurred_at": opened_at.isoformat(),
            }
        )
        case = Case.open(ticket, policy, f"complaint-{tag}:{n}", opened_at, effects=False)
        now = opened_at + timedelta(minutes=5)
        if n == 1:
            case.acknowledge(AcknowledgeInput(actor=Actor(id="alice", role="agent")), now)
        if n == 4:
            now = opened_at + timedelta(hours=3)
            while (wake := case.next_wakeup()) is not None and wake.at <= now:
                case.tick(wake.at)
        state = case.state
        batch = ProjectionBatch(
            workflow_id=state.workflow_id, case_id=state.case_id, events=state.events, status=case.status(now)
        )
        assert await project(db, batch)
        ids.append(state.case_id)
    return ids


async def listed(api: httpx.AsyncClient, **params: object) -> dict:
    response = await api.get("/v1/complaints", params=params, headers=VIEWER)
    assert response.status_code == 200, response.text
    return response.json()


async def test_lists_the_read_model_newest_first_with_filters_and_a_cursor(db: asyncpg.Pool, client: Client) -> None:
    tag = f"ls{uuid.uuid4().hex[:6]}"
    ids = await seed(db, tag)
    async with api_client(api_settings("unused-queue", db), client) as api:
        first = await listed(api, customer=f"{tag}-a", page_size=2)
        assert [c["case_id"] for c in first["complaints"]] == [ids[2], ids[1]]
        assert first["next_page_token"].startswith("rm.")
        second = await listed(api, customer=f"{tag}-a", page_size=2, page_token=first["next_page_token"])
        assert [c["case_id"] for c in second["complaints"]] == [ids[0]]
        assert second["next_page_token"] is None

        fixing = (await listed(api, customer=f"{tag}-a", step="fix"))["complaints"]
        assert [(c["case_id"], c["step"], c["status"]) for c in fixing] == [(ids[1], "fix", "RUNNING")]
        assert fixing[0]["next_deadline"] is not None

        escalated = (await listed(api, customer=f"{tag}-b", escalated="true"))["complaints"]
        assert [c["case_id"] for c in escalated] == [ids[4]] and escalated[0]["escalation_level"] > 0
        calm = (await listed(api, customer=f"{tag}-b", escalated="false"))["complaints"]
        assert [c["case_id"] for c in calm] == [ids[3]]

        bad = await api.get("/v1/complaints", params={"page_token": "rm.not-a-cursor"}, headers=VIEWER)
        assert bad.status_code == 422 and bad.json()["error"] == "validation", bad.text

"""Replayed webhooks are no-ops: a signed Zendesk or Jira delivery whose replay key was seen before
is answered 200 `duplicate` and changes nothing — 1 s later, and 8 minutes later (the API's clock
moved: Zendesk's stale signature is refused, a re-signed retry is a duplicate; Jira's signature has
no time). Real Temporal dev server and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from starter.agents import load_agents
from starter.api import ApiSettings, create_app
from starter.cases import status, timeline
from starter.intake import IntakeConfig, JiraConfig, ZendeskConfig, sign_jira, sign_zendesk
from tests.helpers import database_of, fast_policy

ROOT = Path(__file__).resolve().parents[2]
ZD_SECRET, JIRA_SECRET = "zd-replay-secret", "jira-replay-secret"
INTAKE = {"Authorization": "Bearer dev-intake-012345678"}


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def api(
    client: Client, worker: Any, task_queue: str, db: asyncpg.Pool, clock: Clock
) -> AsyncIterator[httpx.AsyncClient]:
    async def database() -> asyncpg.Pool:
        return db

    settings = ApiSettings(
        agents=load_agents(str(ROOT / "starter" / "dev_agents.toml")),
        intake=IntakeConfig(zendesk=ZendeskConfig(secrets=[ZD_SECRET]), jira=JiraConfig(secrets=[JIRA_SECRET])),
        policy=fast_policy(),
        task_queue=task_queue,
        database=database,
        clock=clock,
    )

    async def connect() -> Client:
        return client

    app = create_app(settings, connect)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        yield http


def zd_signed(body: dict[str, Any], clock: Clock) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, zd_headers(raw, clock)


def zd_headers(raw: bytes, clock: Clock) -> dict[str, str]:
    stamp = clock().strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "X-Zendesk-Webhook-Signature": sign_zendesk(ZD_SECRET, stamp, raw),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "Content-Type": "application/json",
    }


def jira_signed(body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {"X-Hub-Signature": sign_jira(JIRA_SECRET, raw), "Content-Type": "application/json"}


async def post(api: httpx.AsyncClient, source: str, hook: tuple[bytes, dict[str, str]], expect: int = 202) -> Any:
    response = await api.post(f"/v1/webhooks/{source}", content=hook[0], headers=hook[1])
    assert response.status_code == expect, response.text
    return response.json()


async def counts(client: Client, db: asyncpg.Pool, case: str) -> tuple[bool, dict[str, int]]:
    """(paused now, how many of each event the case's timeline holds)."""
    events = await timeline(client, case, database_of(db))
    seen: dict[str, int] = {}
    for event in events:
        seen[event.type] = seen.get(event.type, 0) + 1
    return (await status(client, case)).paused, seen


def zd_envelope(kind: str, ticket: str, requester: str, event: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": f"zen:event-type:ticket.{kind}",
        "id": f"evt-{uuid.uuid4().hex[:10]}",
        "detail": {"id": ticket, "requester_id": requester},
        "event": event,
    }


async def test_zendesk_status_and_reply_replays_at_1_s_and_8_min_are_duplicates(
    api: httpx.AsyncClient, client: Client, db: asyncpg.Pool, clock: Clock
) -> None:
    ticket, requester = str(uuid.uuid4().int % 10**9), "9001"
    opening = {
        "ticket_id": ticket,
        "subject": "Parcel lost",
        "requester": {"id": requester, "name": "Zed Replay", "email": "zed@example.com"},
        "order": {"id": f"ord-{ticket}", "total": "40.00", "shipping": "5.00", "currency": "USD"},
    }
    case = (await post(api, "zendesk", zd_signed(opening, clock)))["case_id"]
    pending_body = zd_envelope("status_changed", ticket, requester, {"current": "pending", "previous": "open"})
    pending = zd_signed(pending_body, clock)
    assert (await post(api, "zendesk", pending))["applied"]
    reply_body = zd_envelope(
        "comment_added",
        ticket,
        requester,
        {"comment": {"id": "31", "body": "Here it is", "is_public": True, "author": {"id": requester}}},
    )
    reply = zd_signed(reply_body, clock)
    assert (await post(api, "zendesk", reply))["applied"]  # resumes the case
    before = await counts(client, db, case)
    assert before[0] is False and before[1]["paused"] == 1 and before[1]["customer_replied"] == 1

    clock.offset = timedelta(seconds=1)
    for hook in (pending, reply):  # the very same requests again
        again = await post(api, "zendesk", hook, expect=200)
        assert again["status"] == "duplicate" and again["source"] == "zendesk"
    assert await counts(client, db, case) == before

    clock.offset = timedelta(minutes=8)
    stale = await api.post("/v1/webhooks/zendesk", content=pending[0], headers=pending[1])
    assert stale.status_code == 401 and stale.json()["error"] == "bad_signature"  # outside the window
    for raw in (pending[0], reply[0]):  # Zendesk's retry: the same body, signed anew
        again = await post(api, "zendesk", (raw, zd_headers(raw, clock)), expect=200)
        assert again["status"] == "duplicate"
    assert await counts(client, db, case) == before


def jira_issue(key: str) -> dict[str, Any]:
    return {
        "key": key,
        "fields": {"summary": "Invoice twice", "reporter": {"accountId": "557058:cust", "displayName": "Cy"}},
    }


async def test_jira_status_and_comment_replays_at_1_s_and_8_min_are_duplicates(
    api: httpx.AsyncClient, client: Client, db: asyncpg.Pool, clock: Clock
) -> None:
    key = f"REP-{uuid.uuid4().int % 10**6}"
    created = {"webhookEvent": "jira:issue_created", "timestamp": 1763630000000, "issue": jira_issue(key)}
    case = (await post(api, "jira", jira_signed(created)))["case_id"]
    waiting = jira_signed(
        {
            "webhookEvent": "jira:issue_updated",
            "issue": jira_issue(key),
            "changelog": {"id": "100", "items": [{"field": "status", "toString": "Waiting for customer"}]},
        }
    )
    assert (await post(api, "jira", waiting))["applied"]
    comment = jira_signed(
        {
            "webhookEvent": "comment_created",
            "issue": jira_issue(key),
            "comment": {"id": "4", "author": {"accountId": "557058:cust"}, "body": "Checked my account."},
        }
    )
    assert (await post(api, "jira", comment))["applied"]  # resumes the case
    before = await counts(client, db, case)
    assert before[0] is False and before[1]["paused"] == 1 and before[1]["customer_replied"] == 1

    for offset in (timedelta(seconds=1), timedelta(minutes=8)):
        clock.offset = offset
        for hook in (waiting, comment):
            again = await post(api, "jira", hook, expect=200)
            assert again["status"] == "duplicate" and again["source"] == "jira"
        assert await counts(client, db, case) == before


async def test_a_body_without_ids_is_known_by_its_digest_and_timestamp(
    api: httpx.AsyncClient, client: Client, db: asyncpg.Pool, clock: Clock
) -> None:
    """A Zendesk trigger status body with no event id: the same body under the same signed timestamp
    is a replay; a later status change (a new timestamp) is applied."""
    ticket, requester = str(uuid.uuid4().int % 10**9), "9002"
    opening = {"ticket_id": ticket, "subject": "Late", "requester": {"id": requester, "name": "No Id"}}
    case = (await post(api, "zendesk", zd_signed(opening, clock)))["case_id"]
    hold = zd_signed({"event": "status_changed", "ticket_id": ticket, "status": "hold"}, clock)
    assert (await post(api, "zendesk", hold))["applied"]
    clock.offset = timedelta(seconds=1)
    assert (await post(api, "zendesk", hold, expect=200))["status"] == "duplicate"
    paused, seen = await counts(client, db, case)
    assert paused and seen["paused"] == 1


async def test_a_generic_ticket_replayed_changes_nothing(
    api: httpx.AsyncClient, client: Client, db: asyncpg.Pool
) -> None:
    """The generic intake (`/v1/tickets`, bearer token, no signature) keys replays by the ticket's
    event id in the case itself: 202 `duplicate: true`, the contact counted once."""
    ticket = {
        "source": "generic",
        "event_id": f"evt-{uuid.uuid4().hex[:8]}",
        "ticket_id": "T-replay",
        "customer": {"id": f"gen-{uuid.uuid4().hex[:6]}", "name": "Gen Replay"},
        "order": {"id": "ord-1", "currency": "USD", "total": "10.00"},
        "subject": "Broken",
        "occurred_at": "2026-11-20T10:00:00+00:00",
    }
    first = await api.post("/v1/tickets", json=ticket, headers=INTAKE)
    assert first.status_code == 202 and first.json()["created"]
    for _ in range(2):
        again = await api.post("/v1/tickets", json=ticket, headers=INTAKE)
        assert again.status_code == 202 and again.json()["duplicate"] and again.json()["contact_count"] == 1
    _, seen = await counts(client, db, first.json()["case_id"])
    assert seen["opened"] == 1 and "contact_added" not in seen


async def test_seen_keys_older_than_the_retention_are_pruned(db: asyncpg.Pool) -> None:
    from starter.api.replays import SeenWebhooks

    now = datetime.now(timezone.utc)
    seen = SeenWebhooks(timedelta(hours=168))
    await db.execute(
        "INSERT INTO webhook_seen VALUES ('jira', 'old', $1), ('jira', 'new', $2)", now - timedelta(days=8), now
    )
    assert await seen.claim(db, "jira", "fresh", now) is None  # first seen: claimed
    assert (await seen.claim(db, "jira", "fresh", now + timedelta(seconds=1))) is not None
    assert {r["event_key"] for r in await db.fetch("SELECT event_key FROM webhook_seen")} == {"new", "fresh"}
    assert await seen.claim(db, "jira", "old", now) is None  # pruned: a delivery that old is new again


def test_replay_keys_prefer_the_events_own_ids() -> None:
    from starter.intake import jira_event_key, zendesk_event_key

    stamp = {"X-Zendesk-Webhook-Signature-Timestamp": "2026-11-20T10:00:00Z"}
    assert zendesk_event_key({"type": "zen:event-type:ticket.status_changed", "id": "e1"}, stamp, b"x") == "id:e1"
    assert zendesk_event_key({"id": "4711", "event_id": "a9"}, stamp, b"x") == "event_id:a9"  # trigger: no "id"
    assert zendesk_event_key({"comment": {"id": 31}}, stamp, b"x") == "comment:31"
    digest = zendesk_event_key({}, stamp, b"x")
    assert digest.startswith("sha256:") and digest != zendesk_event_key({}, {}, b"x")  # the timestamp counts
    assert jira_event_key({"changelog": {"id": 100}}, {}, b"x") == "changelog:100"
    assert jira_event_key({"webhookEvent": "comment_created", "comment": {"id": 4}}, {}, b"x") == (
        "comment_created:comment:4"
    )
    assert jira_event_key({}, {"X-Atlassian-Webhook-Identifier": "d-1"}, b"x") == "delivery:d-1"
    assert jira_event_key({"timestamp": 1}, {}, b"x") != jira_event_key({"timestamp": 2}, {}, b"x")

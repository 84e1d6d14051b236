"""Prevention actions through the HTTP API (in process, the real dev server, worker and PostgreSQL)
and the `recovery prevention` CLI through a real `recovery api`: who may open and close them, 422
for bad input, 201 with the action in the read model, and the closing note."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from tests.api_helpers import api_client, api_settings
from tests.starter.test_cli_api import acli, one_line

ROOT = Path(__file__).resolve().parents[2]
ALICE = {"Authorization": "Bearer dev-alice-0123456789"}
BOB = {"Authorization": "Bearer dev-bob-0123456789ab"}
LENA = {"Authorization": "Bearer dev-lena-0123456789a"}
MAX = {"Authorization": "Bearer dev-max-0123456789ab"}
VIEWER = {"Authorization": "Bearer dev-viewer-012345678"}


def due(days: int = 10) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def body(**overrides: Any) -> dict[str, Any]:
    return {"cause": "wrong-item", "description": "Scan both labels", "owner": "alice", "due": due(), **overrides}


@pytest.fixture
async def api(client: Client, worker, task_queue: str, db: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(api_settings(task_queue, db), client) as http:
        yield http


async def test_only_leads_open_actions_and_bad_input_is_422(api: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    assert (await api.post("/v1/prevention", json=body())).status_code == 401
    for who in (VIEWER, ALICE):
        refused = await api.post("/v1/prevention", json=body(), headers=who)
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden", refused.text
    for bad, field in (
        (body(owner="nobody"), "owner"),
        (body(due="2020-01-01T00:00:00Z"), "due"),
        (body(due="2026-12-20T10:00:00"), "due"),
        (body(description=""), "description"),
        (body(cause="<script>"), "cause"),
        (body(actor={"id": "lena", "role": "team-lead"}), "actor"),
    ):
        answer = await api.post("/v1/prevention", json=bad, headers=LENA)
        assert answer.status_code == 422, (bad, answer.text)
        assert set(answer.json()) == {"error", "detail"} and field in answer.json()["detail"], answer.text
    assert await db.fetchval("SELECT count(*) FROM prevention_actions") == 0


async def test_a_lead_opens_an_action_it_is_listed_and_closed_with_a_note(
    api: httpx.AsyncClient, db: asyncpg.Pool, client: Client
) -> None:
    opened = await api.post("/v1/prevention", json=body(due="2099-01-01"), headers=LENA)
    assert opened.status_code == 422 and "366 days" in opened.json()["detail"]
    plain_date = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    opened = await api.post("/v1/prevention", json=body(due=plain_date), headers=MAX)
    assert opened.status_code == 201, opened.text
    action = opened.json()
    assert action["action_id"].startswith("prevention-wrong-item-") and action["opened_by"] == "max"
    assert action["due"] == f"{plain_date}T17:00:00Z"
    # The API answers once the read model holds it.
    row = await db.fetchrow("SELECT * FROM prevention_actions WHERE action_id = $1", action["action_id"])
    assert row is not None and (row["status"], row["owner"], row["cause"]) == ("open", "alice", "wrong-item")

    listed = await api.get("/v1/prevention", headers=VIEWER)
    assert listed.status_code == 200 and [a["id"] for a in listed.json()] == [action["action_id"]]
    assert listed.json()[0]["state"] == "open"
    assert (await api.get("/v1/prevention", params={"state": "done"}, headers=VIEWER)).json() == []
    assert (await api.get("/v1/prevention", params={"weeks": "0"}, headers=VIEWER)).status_code == 422

    path = f"/v1/prevention/{action['action_id']}/complete"
    refused = await api.post(path, json={"note": "done"}, headers=BOB)  # neither the owner nor a lead
    assert refused.status_code == 403 and "owner" in refused.json()["detail"], refused.text
    blank = await api.post(path, json={"note": "   "}, headers=LENA)
    assert blank.status_code == 422 and "note" in blank.json()["detail"], blank.text
    unknown = await api.post("/v1/prevention/prevention-nope-1/complete", json={"note": "x"}, headers=LENA)
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found", unknown.text

    done = await api.post(path, json={"note": "Second scan at packing"}, headers=ALICE)  # the owner
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["note"], done.json()["done_by"]) == (
        "done",
        "Second scan at packing",
        "alice",
    )
    again = await api.post(path, json={"note": "again"}, headers=LENA)
    assert again.status_code == 409, again.text
    await client.get_workflow_handle(action["action_id"]).result()  # its workflow has finished now
    after_end = await api.post(path, json={"note": "again"}, headers=LENA)
    assert after_end.status_code == 409 and "already done" in after_end.json()["detail"], after_end.text
    shown = (await api.get("/v1/prevention", params={"state": "done"}, headers=VIEWER)).json()
    assert [a["note"] for a in shown] == ["Second scan at packing"]
    assert shown[0]["before_per_week"] == 0.0 and shown[0]["after_per_week"] is None  # done just now


async def test_the_cli_opens_lists_and_closes_actions(api_url: str) -> None:
    args = ["prevention", "open", "--cause", "wrong-item", "--description", "Scan both labels", "--owner", "bob"]
    one_line(await acli(api_url, "alice", *args, "--due", due()), 1, "rejected (forbidden)")
    one_line(await acli(api_url, "lena", *args, "--due", "tomorrow"), 2, "due")
    one_line(await acli(api_url, "lena", *args[:-1], "nobody", "--due", due()), 2, "owner")
    opened = await acli(api_url, "lena", *args, "--due", due(), "--json")
    assert opened.returncode == 0, opened.stderr
    action_id = json.loads(opened.stdout)["action_id"]

    listed = await acli(api_url, "viewer", "prevention", "list")
    assert listed.returncode == 0 and action_id in listed.stdout and "owner bob" in listed.stdout, listed
    one_line(await acli(api_url, "lena", "prevention", "done", "wrong-item-1", "--note", "x"), 2, "prevention-")
    one_line(await acli(api_url, "lena", "prevention", "done", action_id, "--note", " "), 2, "--note")
    done = await acli(api_url, "lena", "prevention", "done", action_id, "--note", "Labels scanned twice")
    assert done.returncode == 0 and f"done {action_id}" in done.stdout, done
    one_line(await acli(api_url, "lena", "prevention", "done", action_id, "--note", "again"), 1, "rejected (closed)")
    shown = await acli(api_url, "viewer", "prevention", "list", "--state", "done", "--json")
    assert [a["note"] for a in json.loads(shown.stdout)] == ["Labels scanned twice"]

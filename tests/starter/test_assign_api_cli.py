"""Ownership through the HTTP API (`POST /v1/complaints/{id}/assignment`) and the CLI (`recovery assign`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from tests.starter.test_api import ALICE, BOB, LENA, VIEWER, api, assert_error, generic_ticket, unique  # noqa: F401
from tests.starter.test_cli import ROOT, address, arecovery, assert_one_line_error


async def test_assignment_claim_refusals_and_lead_reassign(api: httpx.AsyncClient) -> None:  # noqa: F811 (fixture)
    customer = unique("own")
    opened = await api.post("/v1/tickets", json=generic_ticket(customer), headers=ALICE)
    case = opened.json()["case_id"]
    path = f"/v1/complaints/{case}/assignment"

    claimed = await api.post(path, json={"assignee": "alice"}, headers=ALICE)
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["assignee"] == "alice"
    assert_error(await api.post(path, json={"assignee": "bob"}, headers=BOB), 403, "forbidden", "belongs to alice")
    assert_error(
        await api.post(path, json={"assignee": "nobody-here"}, headers=ALICE), 422, "validation", "not an agent"
    )
    assert_error(await api.post(path, json={"assignee": "viewer"}, headers=ALICE), 422, "validation")
    assert_error(await api.post(path, json={"assignee": "alice"}, headers=VIEWER), 403, "forbidden")
    assert_error(await api.post(path, json={"assignee": "alice"}, headers=ALICE), 409, "conflict", "already assigned")
    moved = await api.post(path, json={"assignee": "bob", "note": "cover"}, headers=LENA)
    assert moved.status_code == 200 and moved.json()["assignee"] == "bob"
    shown = (await api.get(f"/v1/complaints/{case}", headers=ALICE)).json()
    assert [(e["actor"], e["data"]["assignee"]) for e in shown["timeline"] if e["type"] == "assigned"] == [
        ("alice", "alice"),
        ("lena", "bob"),
    ]


@pytest.mark.usefixtures("worker")
async def test_recovery_assign(client: Client, task_queue: str, tmp_path: Path) -> None:
    ticket = tmp_path / "ticket.json"
    ticket.write_text(
        json.dumps(
            {
                "source": "generic",
                "event_id": unique("cli-own"),
                "ticket_id": "T-own",
                "customer": {"id": "cust-cli-own", "name": "Ada"},
                "subject": "Late parcel",
                "occurred_at": "2026-11-20T10:00:00+00:00",
            }
        )
    )
    common = ["--operator", *address(client), "--task-queue", task_queue]  # direct-Temporal mode
    assert (await arecovery("open", "--file", str(ticket), *common)).returncode == 0
    os.environ["RECOVERY_AGENTS"] = str(ROOT / "starter" / "dev_agents.toml")
    try:
        unknown = await arecovery("assign", "generic:T-own", "--agent", "alice", "--to", "zed", *common)
        assert_one_line_error(unknown, 2, "'zed' is not an agent")
        done = await arecovery("assign", "generic:T-own", "--agent", "alice", "--to", "alice", *common)
    finally:
        del os.environ["RECOVERY_AGENTS"]
    assert done.returncode == 0, done.stderr
    assert "owner             alice" in done.stdout or any(
        line.split() == ["owner", "alice"] for line in done.stdout.splitlines()
    ), done.stdout

"""The `recovery` CLI as a user runs it: one-line errors, exit codes, readable output."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import Client

ROOT = Path(__file__).resolve().parents[2]


def recovery(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "starter.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env
    )


async def arecovery(*args: str) -> subprocess.CompletedProcess[str]:
    """`recovery` in a thread, so the in-process worker on this event loop keeps serving it."""
    return await asyncio.to_thread(recovery, *args)


def address(client: Client) -> list[str]:
    return ["--address", client.service_client.config.target_host]


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert result.returncode == code, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_bad_policy_file_is_one_clear_error_naming_the_key(tmp_path: Path) -> None:
    from workflows.policy_files import default_policy_text

    bad = tmp_path / "policy.toml"
    bad.write_text(default_policy_text().replace('fix = "1d"', 'fix = "1 day"', 1))
    result = recovery("policy", "check", str(bad))
    assert_one_line_error(result, 2, "severities.high.fix", "invalid duration '1 day'", str(bad))


def test_good_policy_file_is_summarised() -> None:
    result = recovery("policy", "check")
    assert result.returncode == 0
    assert "policy default@" in result.stdout and "team-lead → manager → executive" in result.stdout


def test_bad_amount_is_a_validation_error_before_anything_is_sent() -> None:
    # No server at this address: the input is refused before any connection is tried.
    result = recovery(
        "compensate",
        "c:o",
        "--operator",
        "--agent",
        "alice",
        "--kind",
        "refund",
        "--amount",
        "12.5.5",
        "--address",
        "127.0.0.1:1",
    )
    assert_one_line_error(result, 2, "amount.amount", "not a decimal number")
    result = recovery(
        "compensate",
        "c:o",
        "--operator",
        "--agent",
        "alice",
        "--kind",
        "refund",
        "--amount",
        "-3",
        "--address",
        "127.0.0.1:1",
    )
    assert_one_line_error(result, 2, "must not be negative")


def test_bad_ticket_file_names_the_field(tmp_path: Path) -> None:
    ticket = tmp_path / "t.json"
    ticket.write_text(
        json.dumps(
            {
                "source": "generic",
                "event_id": "e",
                "ticket_id": "t",
                "customer": {"id": "c", "name": "N"},
                "subject": "s",
                "occurred_at": "2026-11-20T10:00:00",
            }
        )
    )
    result = recovery("open", "--file", str(ticket), "--address", "127.0.0.1:1")
    assert_one_line_error(result, 2, "occurred_at", "timezone")
    ticket.write_text("{not json")
    assert_one_line_error(recovery("open", "--file", str(ticket)), 2, "not valid JSON")
    assert_one_line_error(recovery("open", "--file", str(tmp_path / "missing.json")), 2, "cannot read")


def test_unreachable_server_is_one_line() -> None:
    result = recovery("show", "c:o", "--operator", "--address", "127.0.0.1:1")
    assert_one_line_error(result, 1, "cannot reach Temporal at 127.0.0.1:1")


@pytest.mark.usefixtures("worker")
async def test_open_act_and_show_through_the_cli(client: Client, task_queue: str, tmp_path: Path) -> None:
    ticket = tmp_path / "ticket.json"
    ticket.write_text(
        json.dumps(
            {
                "source": "zendesk",
                "event_id": "cli-1",
                "ticket_id": "4711",
                "customer": {"id": "cust-cli", "name": "Ada", "email": "ada@example.com"},
                "order": {"id": "ord-9", "currency": "USD", "total": "88.00", "shipping": "7455.00"},
                "subject": "Shipping charge of $7,455 on an $88 order",
                "occurred_at": "2026-11-20T10:00:00-05:00",
            }
        )
    )
    common = ["--operator", *address(client), "--task-queue", task_queue]
    opened = await arecovery("open", "--file", str(ticket), *common)
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.startswith("cust-cli:ord-9: opened (contacts: 1")
    again = await arecovery("open", "--file", str(ticket), *common)
    assert "duplicate event, nothing changed (contacts: 1" in again.stdout

    early = await arecovery("fix", "cust-cli:ord-9", "--agent", "alice", "--description", "x", *common)
    assert_one_line_error(early, 1, "rejected (out_of_order)", "step 'acknowledge'")

    acked = await arecovery("ack", "cust-cli:ord-9", "--agent", "alice", "--message", "So sorry.", *common)
    assert acked.returncode == 0 and "step              fix" in acked.stdout

    shown = await arecovery("show", "cust-cli:ord-9", *common)
    assert shown.returncode == 0
    assert "acknowledged" in shown.stdout and "alice" in shown.stdout and "opened" in shown.stdout
    as_json = json.loads((await arecovery("show", "complaint-cust-cli:ord-9", "--json", *common)).stdout)
    assert as_json["status"]["step"] == "fix"
    assert [e["type"] for e in as_json["timeline"]] == ["opened", "acknowledged"]

    missing = await arecovery("show", "nobody:nothing", *common)
    assert_one_line_error(missing, 1, "rejected (not_found)", "no case complaint-nobody:nothing")

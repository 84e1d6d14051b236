"""The CLI through the API (issue 15.1): the token says who acts, so four-eyes holds for the CLI;
`--operator` is the only way to Temporal directly. And apply_policy through the API and CLI for the
roles the case's policy allows, recorded with who and from which version (issue 15.3)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from temporalio.client import Client

ROOT = Path(__file__).resolve().parents[2]
TOKENS = {
    "alice": "dev-alice-0123456789",
    "bob": "dev-bob-0123456789ab",
    "lena": "dev-lena-0123456789a",
    "max": "dev-max-0123456789ab",
    "intake": "dev-intake-012345678",
    "viewer": "dev-viewer-012345678",
}


def cli(
    api_url: str, who: str | None, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("RECOVERY_TOKEN", "RECOVERY_CONFIG", "RECOVERY_API_URL")}
    base.update({"RECOVERY_API_URL": api_url, "XDG_CONFIG_HOME": "/nonexistent"})
    if who:
        base["RECOVERY_TOKEN"] = TOKENS[who]
    return subprocess.run(
        [sys.executable, "-m", "starter.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **(env or {})},
    )


async def acli(
    api_url: str, who: str | None, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(cli, api_url, who, *args, env=env)


def one_line(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert result.returncode == code, result
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


async def test_cli_acts_as_the_token_and_four_eyes_holds(api_url: str, tmp_path: Path) -> None:
    ticket = tmp_path / "ticket.json"
    ticket.write_text(
        json.dumps(
            {
                "source": "generic",
                "event_id": "cli-api-1",
                "ticket_id": "T-1",
                "customer": {"id": "cust-cliapi", "name": "Ada", "email": "ada@example.com"},
                "order": {"id": "ord-1", "currency": "USD", "total": "120.00", "shipping": "10.00"},
                "subject": "Glass arrived broken",
                "occurred_at": "2026-11-20T10:00:00+00:00",
            }
        )
    )
    case = "cust-cliapi:ord-1"
    one_line(await acli(api_url, None, "open", "--file", str(ticket)), 2, "no API token", "RECOVERY_TOKEN")
    one_line(await acli(api_url, "viewer", "open", "--file", str(ticket)), 1, "rejected (forbidden)")
    opened = await acli(api_url, "intake", "open", "--file", str(ticket))
    assert opened.returncode == 0 and opened.stdout.startswith(f"{case}: opened"), opened

    # Naming someone else is refused outright: identity flags belong to --operator.
    one_line(await acli(api_url, "alice", "ack", case, "--agent", "lena", "--role", "team-lead"), 2, "--operator")
    assert (await acli(api_url, "alice", "ack", case, "--message", "So sorry")).returncode == 0
    assert (await acli(api_url, "alice", "fix", case, "--description", "New glass sent")).returncode == 0
    proposed = await acli(api_url, "alice", "compensate", case, "--kind", "refund", "--amount", "120.00", "--json")
    assert proposed.returncode == 0, proposed.stderr
    assert json.loads(proposed.stdout)["pending_compensation"]["status"] == "pending_approval"
    # Alice can't approve her own proposal, nor can another agent without authority.
    one_line(await acli(api_url, "alice", "approve", case), 1, "rejected (forbidden)")
    one_line(await acli(api_url, "bob", "approve", case), 1, "rejected (forbidden)")
    approved = await acli(api_url, "lena", "approve", case, "--json")
    assert approved.returncode == 0, approved.stderr

    shown = await acli(api_url, "viewer", "show", case, "--json")
    assert shown.returncode == 0, shown.stderr
    actors = {e["type"]: e["actor"] for e in json.loads(shown.stdout)["timeline"]}
    assert actors["compensation_proposed"] == "alice" and actors["compensation_approved"] == "lena"
    one_line(await acli(api_url, "intake", "show", case), 1, "rejected (forbidden)")
    # Bad input is exit 2 before anything is sent; a bad case id is refused by the API.
    one_line(
        await acli(api_url, "alice", "compensate", case, "--kind", "refund", "--amount", "1.005"), 2, "decimal places"
    )
    one_line(await acli(api_url, "alice", "show", "no such case"), 2, "refused the input")
    one_line(await acli("http://127.0.0.1:1", "alice", "show", case), 1, "cannot reach the API at http://127.0.0.1:1")

    # The token may also come from the config file, like gh or kubectl.
    config = tmp_path / "config.toml"
    config.write_text(f'api_url = "{api_url}"\ntoken = "{TOKENS["viewer"]}"\n')
    from_file = await acli(
        "http://127.0.0.1:1", None, "show", case, env={"RECOVERY_CONFIG": str(config), "RECOVERY_API_URL": ""}
    )
    assert from_file.returncode == 0 and "follow_up" in from_file.stdout, from_file


async def test_apply_policy_through_api_and_cli_for_allowed_roles_only(
    api_url: str, client: Client, tmp_path: Path
) -> None:
    ticket = tmp_path / "ticket.json"
    ticket.write_text(
        json.dumps(
            {
                "source": "generic",
                "event_id": "cli-policy-1",
                "ticket_id": "T-2",
                "customer": {"id": "cust-policy", "name": "Ada"},
                "subject": "Late delivery",
                "occurred_at": "2026-11-20T10:00:00+00:00",
            }
        )
    )
    assert (await acli(api_url, "intake", "open", "--file", str(ticket))).returncode == 0
    case = "generic:T-2"
    one_line(await acli(api_url, "alice", "apply-policy", case), 1, "rejected (forbidden)", "allows: manager")
    one_line(
        await acli(api_url, "max", "apply-policy", case, "--expect", "other@9"), 1, "rejected (conflict)", "default@"
    )
    moved = await acli(api_url, "max", "apply-policy", case, "--expect", "default@2026-11", "--json")
    assert moved.returncode == 0, moved.stderr

    # Operator mode: the workflow itself enforces the rule, whatever role the caller claims.
    address = client.service_client.config.target_host
    queue = await task_queue_of(client, "complaint-generic:T-2")
    operator = [
        "--operator",
        "--address",
        address,
        "--task-queue",
        queue,
        "--policy",
        str(ROOT / "starter" / "demo_policy.toml"),
    ]
    one_line(
        await acli(api_url, None, "apply-policy", case, *operator, "--agent", "eve", "--role", "agent"),
        1,
        "rejected (forbidden)",
    )
    demo = await acli(
        api_url, None, "apply-policy", case, *operator, "--agent", "ops-max", "--role", "manager", "--json"
    )
    assert demo.returncode == 0, demo.stderr
    assert json.loads(demo.stdout)["policy"].startswith("demo@")

    shown = json.loads((await acli(api_url, "viewer", "show", case, "--json")).stdout)
    applied = [e for e in shown["timeline"] if e["type"] == "policy_applied"]
    assert [(e["actor"], e["data"]["previous"], e["data"]["policy"]) for e in applied] == [
        ("max", "default@2026-11", "default@2026-11"),
        ("ops-max", "default@2026-11", "demo@2026-11"),
    ]


async def task_queue_of(client: Client, workflow_id: str) -> str:
    described = await client.get_workflow_handle(workflow_id).describe()
    return described.task_queue

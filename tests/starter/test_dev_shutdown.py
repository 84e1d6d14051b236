"""`recovery dev` stops every child on every exit path (issue 15.4): SIGTERM with an API step in
flight, a SIGKILL (the next start cleans up), and a clean exit that also stops PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from starter.dev import port_free
from tests.helpers import WebhookReceiver, eventually
from tests.starter.test_dev_stack import ROOT, free_port


class DevStack:
    def __init__(self, home: Path, ports: dict[str, int], extra_env: dict[str, str]):
        self.output: list[str] = []
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
                str(ports["temporal"]),
                "--ui-port",
                str(ports["ui"]),
                "--api-port",
                str(ports["api"]),
                "--metrics-port",
                str(ports["metrics"]),
                "--task-queue",
                "recovery-dev-shutdown",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**env, **extra_env},
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.output):
            assert self.process.poll() is None, "".join(self.output)
            assert time.monotonic() < deadline, f"{text!r} not printed within {timeout}s:\n{''.join(self.output)}"
            time.sleep(0.2)

    def token(self, agent: str) -> str:
        return next(
            line.split("Bearer ")[1].strip() for line in self.output if f" {agent} " in line and "Bearer" in line
        )


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def postgres_pid(home: Path) -> int | None:
    pidfile = home / "postgres" / "postmaster.pid"
    try:
        return int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


async def test_dev_stops_everything_on_sigterm_mid_step_and_starts_over_a_killed_run() -> None:
    # Outside pytest's basetemp, like the suite's PostgreSQL: the embedded server's user must reach it.
    home = Path(tempfile.mkdtemp(prefix="recovery-dev-shutdown-")) / "home"
    ports = {"temporal": free_port(), "ui": free_port(), "api": free_port(), "metrics": free_port()}
    receiver = WebhookReceiver()
    receiver.hold("acknowledgement")  # the acknowledgement's delivery stays in flight
    env = {"RECOVERY_NOTIFY_WEBHOOK": receiver.url}
    stacks: list[DevStack] = []
    try:
        # 1. SIGTERM while a step's notification is in flight: everything stops, promptly.
        stack = DevStack(home, ports, env)
        stacks.append(stack)
        await asyncio.to_thread(stack.wait_for, "open a case:")
        temporal_pid = int((home / "temporal.pid").read_text())
        ticket = json.loads((ROOT / "examples" / "shipping-charge.json").read_text())
        auth = {"Authorization": f"Bearer {stack.token('alice')}"}
        api = f"http://127.0.0.1:{ports['api']}"
        async with httpx.AsyncClient(base_url=api, timeout=120) as http:
            opened = await http.post("/v1/tickets", json=ticket, headers=auth)
            assert opened.status_code == 202, f"{opened.status_code} {opened.text}\n" + "".join(stack.output)
            in_flight = asyncio.create_task(
                http.post("/v1/complaints/cust-1042:ord-88/acknowledge", json={"message": "sorry"}, headers=auth)
            )
            await eventually(lambda: asyncio.to_thread(receiver.held.is_set), timeout=60)
            started = time.monotonic()
            stack.process.send_signal(signal.SIGTERM)
            try:
                code = await asyncio.to_thread(stack.process.wait, 60)
            except subprocess.TimeoutExpired:
                raise AssertionError(
                    "recovery dev still running 60s after SIGTERM:\n" + "".join(stack.output)
                ) from None
            elapsed = time.monotonic() - started
            # The step answered as soon as it was recorded: its notification, held open by the
            # receiver, was still being delivered beside the case when the stack stopped. (A request
            # still in flight at shutdown gets the API's JSON 503: tests/starter/test_api_shutdown.py.)
            answer = await asyncio.wait_for(in_flight, 10)
            assert answer.status_code == 200 and answer.json()["step"] == "fix", answer.text
        assert code == 0, "".join(stack.output)
        assert elapsed < 45, f"recovery dev took {elapsed:.0f}s to stop"
        assert not alive(temporal_pid)
        for name, port in ports.items():
            assert port_free(port), f"{name} port {port} still bound"
        pg = postgres_pid(home)
        assert pg is None or not alive(pg), "embedded PostgreSQL left running after a clean exit"
        receiver.release.set()

        # 2. SIGKILL: the next start is clean (no "port in use"), over whatever was left.
        stack = DevStack(home, ports, env)
        stacks.append(stack)
        await asyncio.to_thread(stack.wait_for, "open a case:")
        killed_temporal = int((home / "temporal.pid").read_text())
        stack.process.send_signal(signal.SIGKILL)
        stack.process.wait(10)
        stack = DevStack(home, ports, env)
        stacks.append(stack)
        await asyncio.to_thread(stack.wait_for, "open a case:")
        assert not alive(killed_temporal)
        async with httpx.AsyncClient(base_url=api, timeout=30) as http:
            shown = await http.get("/v1/complaints/cust-1042:ord-88", headers=auth)
        assert shown.status_code == 200, shown.text

        # 3. Clean exit (Ctrl-C) after a killed run: PostgreSQL stops too.
        stack.process.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(stack.process.wait, 60) == 0
        pg = postgres_pid(home)
        assert pg is None or not alive(pg), "embedded PostgreSQL left running after a clean exit"
        assert all(port_free(port) for port in ports.values())
    finally:
        receiver.close()
        for s in stacks:
            if s.process.poll() is None:
                s.process.kill()
                s.process.wait()
        leftover = home / "temporal.pid"
        if leftover.exists():
            try:
                os.killpg(int(leftover.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        pg = postgres_pid(home)
        if pg is not None and alive(pg):
            os.kill(pg, signal.SIGTERM)
        shutil.rmtree(home.parent, ignore_errors=True)

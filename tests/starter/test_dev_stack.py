"""`recovery dev` as a user runs it: starts, serves the UI, stops on Ctrl-C, keeps data across restarts."""

from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    def __init__(self, home: Path, port: int, ui_port: int):
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "starter.cli", "dev", "--home", str(home), "--port", str(port),
             "--ui-port", str(ui_port), "--task-queue", "recovery-dev-test"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
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
    return subprocess.run([sys.executable, "-m", "starter.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_dev_stack_serves_ui_and_keeps_cases_across_restarts(tmp_path: Path) -> None:
    port, ui_port = free_port(), free_port()
    common = ["--address", f"127.0.0.1:{port}", "--task-queue", "recovery-dev-test"]
    stack = Stack(tmp_path / "home", port, ui_port)
    try:
        stack.wait_for("worker started")
        assert any(f"http://127.0.0.1:{ui_port}" in line for line in stack.output)
        opened = recovery("open", "--file", str(ROOT / "examples" / "shipping-charge.json"), *common)
        assert opened.returncode == 0, opened.stderr
        before = json.loads(recovery("show", "cust-1042:ord-88", "--json", *common).stdout)["status"]
        # The Web UI's HTTP API lists the case.
        listed = httpx.get(f"http://127.0.0.1:{ui_port}/api/v1/namespaces/default/workflows",
                           params={"query": "WorkflowId = 'complaint-cust-1042:ord-88'"}, timeout=10)
        assert listed.status_code == 200
        assert "complaint-cust-1042:ord-88" in listed.text
    finally:
        code = stack.interrupt()
    assert code == 0, "".join(stack.output)
    assert any("stopped; data kept" in line for line in stack.output)

    busy = socket.socket()
    busy.bind(("127.0.0.1", port))
    busy.listen()
    try:
        refused = recovery("dev", "--home", str(tmp_path / "home"), "--port", str(port), "--ui-port", str(ui_port))
        assert refused.returncode == 1 and f"port {port} for the Temporal server is in use" in refused.stderr
    finally:
        busy.close()

    stack = Stack(tmp_path / "home", port, ui_port)
    try:
        stack.wait_for("worker started")
        after = json.loads(recovery("show", "cust-1042:ord-88", "--json", *common).stdout)["status"]
    finally:
        assert stack.interrupt() == 0
    assert after["step"] == "acknowledge" and after["severity"] == "critical"
    assert after["deadlines"]["due_at"] == before["deadlines"]["due_at"]

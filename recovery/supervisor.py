"""Run N copies of a command (worker processes on one task queue) and stop them together.

One Python worker is one interpreter (the GIL makes it about one core); more worker processes on the
same task queue share its load. SIGTERM/SIGINT are forwarded to every child, which then drain
gracefully; if one child exits on its own the others are stopped too (a supervisor of a broken
worker should fail visibly, not limp on). Children that outlive the grace period are killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from types import FrameType

METRICS_ADDRESS = "RECOVERY_METRICS_ADDRESS"


def child_env(base: Mapping[str, str], index: int) -> dict[str, str]:
    """Child `index`'s environment: its metrics endpoint (if any) on port + index, so they don't clash."""
    env = dict(base)
    env["RECOVERY_WORKER_INDEX"] = str(index)
    address = env.get(METRICS_ADDRESS)
    if address and index:
        host, _, port = address.rpartition(":")
        env[METRICS_ADDRESS] = f"{host}:{int(port) + index}"
    return env


def supervise(
    command: Sequence[str],
    processes: int,
    env: Mapping[str, str] | None = None,
    grace_s: float = 30.0,
    poll_s: float = 0.1,
) -> int:
    """Run `processes` copies of `command` until a signal or a child's exit; the exit code is 0 after a
    forwarded signal when every child exited 0, else the first failing child's code (128 + signal for
    a child killed by a signal, as shells say; 1 if it exited 0 on its own)."""
    base = dict(os.environ if env is None else env)
    stopping: list[int] = []
    children: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for i in range(processes):
            if not stopping:  # a signal during the start-up: start no more
                children.append(subprocess.Popen(list(command), env=child_env(base, i)))
        code = 0
        kill_at: float | None = None
        while running := [c for c in children if c.poll() is None]:
            exited = [c for c in children if c.returncode is not None]
            if exited and not stopping:  # a child went away by itself: stop the others
                code = _exit_code(exited[0].returncode) or 1
                forward(signal.SIGTERM, None)
            if stopping and kill_at is None:
                kill_at = time.monotonic() + grace_s
            if kill_at is not None and time.monotonic() > kill_at:
                for child in running:
                    child.kill()
            time.sleep(poll_s)
        if stopping and not code:
            code = next((_exit_code(c.returncode) for c in children if c.returncode), 0)
        return code
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _exit_code(returncode: int | None) -> int:
    return 128 - returncode if returncode is not None and returncode < 0 else returncode or 0

"""A bench figure's own subprocesses (workers): started with their stderr in a log file, ready once the
log shows their marker line; stopped with SIGTERM and a grace period, then SIGKILL."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

from bench.common import ROOT

READY_WITHIN_S = 60.0


async def start_logged(command: list[str], env: dict[str, str], log: Path, marker: bytes) -> subprocess.Popen[bytes]:
    """`command` (from the repository's root) logging to a fresh `log`, once `marker` is in it."""
    what = command[2] if command[1:2] == ["-m"] else command[0]  # the module, for `python -m module`
    log.write_bytes(b"")
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log.open("ab"))
    deadline = time.monotonic() + READY_WITHIN_S
    while marker not in log.read_bytes():
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}; see {log}")
        if time.monotonic() > deadline:
            proc.terminate()
            raise RuntimeError(f"{what} did not start within {READY_WITHIN_S:.0f} s; see {log}")
        await asyncio.sleep(0.1)
    return proc


async def stop(proc: subprocess.Popen[bytes], grace_s: float = 30.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `grace_s`."""
    proc.terminate()
    try:
        await asyncio.to_thread(proc.wait, grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()

"""Worker processes for figure (c)'s storms: `recovery worker --processes P` (the supervisor of
`recovery/supervisor.py`) as a subprocess on its own task queue, against the bench's servers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from bench.common import ROOT, subprocess_env


@asynccontextmanager
async def worker_processes(
    processes: int, address: str, database_url: str, queue: str, log: Path
) -> AsyncIterator[subprocess.Popen[bytes]]:
    """The supervisor with `processes` workers on `queue`, once every worker has said it started; SIGTERM
    (forwarded to every worker, which drains) when done. The queue name is in the supervisor's command
    line, so `bench.procs.find_pids(queue)` finds it and its workers."""
    env = subprocess_env(TEMPORAL_ADDRESS=address, DATABASE_URL=database_url, RECOVERY_LOG_LEVEL="INFO")
    env.pop("RECOVERY_METRICS_ADDRESS", None)
    log.write_bytes(b"")
    command = [sys.executable, "-m", "starter.cli", "worker", "--processes", str(processes), "--task-queue", queue]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log.open("ab"))
    try:
        deadline = time.monotonic() + 60
        while log.read_bytes().count(b"worker started") < processes:
            if proc.poll() is not None:
                raise RuntimeError(f"recovery worker exited with code {proc.returncode}; see {log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{processes} workers did not start within 60 s; see {log}")
            await asyncio.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            await asyncio.to_thread(proc.wait, 40)
        except subprocess.TimeoutExpired:
            proc.kill()


class EscalationLog:
    """When each case's first escalation notification started in a worker, from the workers' JSON log:
    the notifier logs `notification` (with workflow_id, template, timestamp) as the activity begins —
    the same moment the in-process recording notifier notes. Reads on from where it stopped."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.escalations: dict[str, float] = {}

    def read(self) -> dict[str, float]:
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits for the next read
        self.offset += len(complete)
        for line in complete.splitlines():
            if b'"escalation"' not in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == "notification" and entry.get("template") == "escalation":
                at = datetime.fromisoformat(entry["timestamp"]).timestamp()
                self.escalations.setdefault(entry["workflow_id"], at)
        return self.escalations

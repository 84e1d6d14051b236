"""`recovery worker --processes N`'s supervisor: N real child processes, stopped together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

# A child: notes its pid and index (the file appears whole), waits for SIGTERM, notes that it
# stopped (as a worker drains).
CHILD = """
import os, signal, sys, time
from pathlib import Path
out = Path(sys.argv[1])
index = os.environ["RECOVERY_WORKER_INDEX"]
stopped = []
signal.signal(signal.SIGTERM, lambda *_: stopped.append(1))
(out / f".started-{index}").write_text(str(os.getpid()))
(out / f".started-{index}").rename(out / f"started-{index}")  # whole: the test may read it at once
while not stopped:
    time.sleep(0.05)
(out / f"stopped-{index}").write_text(os.environ.get("RECOVERY_METRICS_ADDRESS", ""))
"""

SUPERVISOR = """
import sys
from recovery.supervisor import supervise
sys.exit(supervise([sys.executable, "-c", sys.argv[1], sys.argv[2]], 2, grace_s=20))
"""


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) counts as gone
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def _start(tmp_path: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, RECOVERY_METRICS_ADDRESS="127.0.0.1:9500")
    return subprocess.Popen([sys.executable, "-c", SUPERVISOR, CHILD, str(tmp_path)], env=env)


def test_sigterm_stops_both_children(tmp_path: Path) -> None:
    supervisor = _start(tmp_path)
    try:
        _wait_for(lambda: all((tmp_path / f"started-{i}").exists() for i in range(2)))
        pids = [int((tmp_path / f"started-{i}").read_text()) for i in range(2)]
        assert len(set(pids)) == 2 and supervisor.pid not in pids
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=30) == 0
        # each child got the signal and drained; each had its own metrics port
        assert (tmp_path / "stopped-0").read_text() == "127.0.0.1:9500"
        assert (tmp_path / "stopped-1").read_text() == "127.0.0.1:9501"
        _wait_for(lambda: not any(_alive(pid) for pid in pids))
    finally:
        if supervisor.poll() is None:
            supervisor.kill()


def test_a_child_that_exits_stops_the_other(tmp_path: Path) -> None:
    supervisor = _start(tmp_path)
    try:
        _wait_for(lambda: all((tmp_path / f"started-{i}").exists() for i in range(2)))
        pids = [int((tmp_path / f"started-{i}").read_text()) for i in range(2)]
        os.kill(pids[0], signal.SIGKILL)
        assert supervisor.wait(timeout=30) == 128 + signal.SIGKILL  # the failing child's code, as shells say
        assert (tmp_path / "stopped-1").exists()  # the other one was stopped gracefully
        _wait_for(lambda: not _alive(pids[1]))
    finally:
        if supervisor.poll() is None:
            supervisor.kill()


def test_worker_processes_below_one_is_a_usage_error() -> None:
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-m", "starter.cli", "worker", "--processes", "0"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result
    assert "--processes must be at least 1" in result.stderr and "Traceback" not in result.stderr

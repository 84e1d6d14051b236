"""Child processes of `recovery dev` that never outlive it (issue 15.4).

* A child runs in its own process group, and stopping it signals the whole group (the `temporal`
  CLI starts the server and UI as its own children).
* On Linux a child also gets SIGTERM from the kernel when `recovery dev` dies, even by SIGKILL
  (PR_SET_PDEATHSIG).
* Its pid is kept in a pidfile under the stack's home, so the next start finds a leftover of a
  run that was killed before it could clean up, and stops it before checking its ports.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """preexec_fn: ask the kernel to SIGTERM this child when its parent dies."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def start_child(command: list[str], pidfile: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start `command` in a new process group, output appended to `log`, its pid written to `pidfile`."""
    preexec: Callable[[], None] | None = _die_with_parent if sys.platform.startswith("linux") else None
    with open(log, "ab") as out:
        child = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=preexec
        )
    pidfile.write_text(f"{child.pid}\n")
    return child


def stop_child(child: subprocess.Popen[bytes], pidfile: Path, timeout: float = 20.0) -> None:
    """SIGTERM the child's process group, SIGKILL it after `timeout`; remove the pidfile."""
    if child.poll() is None:
        _signal_group(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(child.pid, signal.SIGKILL)
            child.wait()
    _signal_group(child.pid, signal.SIGKILL)  # anything of its group still there (grandchildren)
    pidfile.unlink(missing_ok=True)


def stop_leftover(pidfile: Path, marker: str, timeout: float = 20.0) -> int | None:
    """Stop the process group of a previous run's child named in `pidfile`, if it is still alive and
    its command line contains `marker` (so a recycled pid is never touched). Returns its pid."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        pidfile.unlink(missing_ok=True)
        return None
    stopped = None
    command = _command_line(pid)
    if command and marker in command:
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        _signal_group(pid, signal.SIGKILL)
        stopped = pid
    pidfile.unlink(missing_ok=True)
    return stopped


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # our own child: reap it
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    command = _command_line(pid)
    return command is not None


def _command_line(pid: int) -> str | None:
    """The process's command line, None when there is no such (live) process."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return None
        return ""  # alive, but no /proc to tell what it is
    if "\nState:\tZ" in status:
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace")

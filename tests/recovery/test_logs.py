"""Log lines go to the stderr of the moment through one writer thread: one that cannot be written fails
nothing (a poison batch's error log must not turn its non-retryable failure into a retry for ever), a
slow stderr never holds up the thread that logs (a workflow thread stuck on it trips the SDK's deadlock
detector), lines never interleave, and what is queued at exit is written."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import structlog

from recovery.logs import configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    configure_logging("INFO")


def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the writer thread did not write in time"
        time.sleep(0.01)


def test_a_closed_stderr_fails_nothing_and_the_next_stderr_gets_the_next_line(
    monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging("INFO")
    log = structlog.get_logger("test")
    log.info("one")
    until(lambda: bool(first.getvalue()))
    assert json.loads(first.getvalue())["event"] == "one"
    first.close()  # as pytest closes a finished test's captured stream
    log.error("lost", alert="projection")  # raised "I/O operation on closed file" before
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    log.info("two")
    until(lambda: "two" in second.getvalue())
    # "lost" is written by then or dropped: with the writer thread, maybe to the new stderr
    assert [json.loads(line)["event"] for line in second.getvalue().splitlines()][-1] == "two"


class BlockedStream(io.StringIO):
    """A stderr whose writes wait until released: a full pipe, a starved disk."""

    def __init__(self) -> None:
        super().__init__()
        self.released = threading.Event()

    def write(self, text: str) -> int:
        self.released.wait()
        return super().write(text)


def test_a_blocked_stderr_holds_up_no_thread_that_logs(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    blocked = BlockedStream()
    monkeypatch.setattr(sys, "stderr", blocked)
    configure_logging("INFO")
    started = time.monotonic()
    for i in range(50):  # the SDK's workflow logger is a stdlib logger; our own lines are structlog's
        logging.getLogger("temporalio.workflow").warning("workflow line %d", i)
        structlog.get_logger("test").info("own line", i=i)
    assert time.monotonic() - started < 1.0  # returned at once, though nothing could be written
    blocked.released.set()
    until(lambda: blocked.getvalue().count("\n") == 100)
    events = [json.loads(line)["event"] for line in blocked.getvalue().splitlines()]
    assert events[:2] == ["workflow line 0", "own line"] and events[-1] == "own line"


def test_lines_from_many_threads_never_interleave(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    configure_logging("INFO")

    def burst(n: int) -> None:
        for i in range(200):
            structlog.get_logger("test").info("structlog", thread=n, i=i)
            logging.getLogger("stdlib").info("stdlib %d %d", n, i)

    threads = [threading.Thread(target=burst, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    until(lambda: out.getvalue().count("\n") == 1600)
    lines = out.getvalue().splitlines()
    assert all(
        json.loads(line)["event"] in ("structlog",) or json.loads(line)["event"].startswith("stdlib") for line in lines
    )


def test_what_is_queued_at_exit_is_written() -> None:
    code = (
        "import structlog\n"
        "from recovery.logs import configure_logging\n"
        "configure_logging('INFO')\n"
        "for i in range(2000): structlog.get_logger('exit').info('line', i=i)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert [json.loads(line)["i"] for line in run.stderr.splitlines()] == list(range(2000))


def test_a_forked_child_writes_its_lines_too() -> None:
    code = (
        "import os, structlog\n"
        "from recovery.logs import configure_logging, flush_logs\n"
        "configure_logging('INFO')\n"
        "pid = os.fork()\n"
        "structlog.get_logger('fork').info('child' if pid == 0 else 'parent')\n"
        "os._exit(0 if flush_logs() else 1) if pid == 0 else os.waitpid(pid, 0)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert sorted(json.loads(line)["event"] for line in run.stderr.splitlines()) == ["child", "parent"]

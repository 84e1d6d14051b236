"""JSON logs for the worker, activities and API: structlog for our own lines, and the same JSON
shape for stdlib logging (the SDK's `workflow.logger`, uvicorn), one object per line."""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import sys
import threading
import time
from datetime import datetime, timezone
from typing import TextIO, cast

import structlog

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "event": record.getMessage(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "timestamp": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _Stderr:
    """Whatever `sys.stderr` is when a line is written (not when logging was configured), and a line
    that cannot be written is dropped: a closed or broken stream must never fail the activity or
    request that logs."""

    def write(self, text: str) -> int:
        try:
            return sys.stderr.write(text)
        except (ValueError, OSError):
            return 0

    def flush(self) -> None:
        try:
            sys.stderr.flush()
        except (ValueError, OSError):
            pass


class _LineQueue:
    """Lines handed to one writer thread, so that no caller waits on the stream. A workflow thread
    that blocked on a slow stderr while holding the logging handler's lock tripped the SDK's deadlock
    detector, whose injected error could leave that lock held and stop every thread that logs; here
    the lock covers only a queue put. Lines beyond `QUEUED_LINES` are dropped and counted."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        """Where the thread writes: changed when logging is configured again."""
        self._start()
        atexit.register(self.close)
        os.register_at_fork(after_in_child=self._start)  # a forked child has no writer thread of its own

    def _start(self) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue(maxsize=QUEUED_LINES)
        self._dropped = self._queued = self._written = 0
        self._thread = threading.Thread(target=self._drain, name="log-writer", daemon=True)
        self._thread.start()

    def write(self, text: str) -> int:
        try:
            self._lines.put_nowait(text)
            self._queued += 1
        except queue.Full:
            self._dropped += 1
        return len(text)

    def flush(self) -> None:
        """Nothing to wait for: the writer thread flushes after each line."""

    def _drain(self) -> None:
        while (text := self._lines.get()) is not None:
            try:
                if self._dropped:
                    dropped, self._dropped = self._dropped, 0
                    self.out.write(
                        json.dumps({"event": "log lines dropped", "level": "warning", "count": dropped}) + "\n"
                    )
                self.out.write(text)
                self.out.flush()
            except (ValueError, OSError):
                pass  # a closed or broken stream drops the line
            self._written += 1

    def wait_written(self, timeout: float) -> bool:
        """Wait until every line queued so far has been handed to the stream."""
        deadline, target = time.monotonic() + timeout, self._queued
        while self._written < target and self._thread.is_alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self, timeout: float = 2.0) -> None:
        """Write what is queued, then stop the thread (at exit)."""
        if self._thread.is_alive():
            try:
                self._lines.put(None, timeout=timeout)
            except queue.Full:
                return
            self._thread.join(timeout)


QUEUED_LINES = 10_000
_queue: _LineQueue | None = None


def flush_logs(timeout: float = 2.0) -> bool:
    """Write the queued lines before a process ends without running `atexit` (`os._exit`, a forked child)."""
    return _queue is None or _queue.wait_written(timeout)


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """JSON lines at `level` to `stream` (default: the process's stderr at the time of writing), written
    by one writer thread."""
    global _queue
    out = stream or cast(TextIO, _Stderr())
    if _queue is None:
        _queue = _LineQueue(out)
    _queue.out = out  # one queue for the process: loggers cached before keep writing to it
    stream = cast(TextIO, _queue)
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        numeric = logging.INFO
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=numeric, handlers=[handler], force=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(stream),  # one write per line: lines never interleave
        cache_logger_on_first_use=True,
    )

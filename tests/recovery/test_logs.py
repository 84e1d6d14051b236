"""Log lines go to the stderr of the moment, and one that cannot be written fails nothing: a poison
batch's error log must not turn its non-retryable failure into a retry for ever."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator

import pytest
import structlog

from recovery.logs import configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    configure_logging("INFO")


def test_a_closed_stderr_drops_the_line_and_the_next_stderr_gets_the_next(
    monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging("INFO")
    log = structlog.get_logger("test")
    log.info("one")
    assert json.loads(first.getvalue())["event"] == "one"
    first.close()  # as pytest closes a finished test's captured stream
    log.error("lost", alert="projection")  # raised "I/O operation on closed file" before
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    log.info("two")
    assert json.loads(second.getvalue())["event"] == "two"

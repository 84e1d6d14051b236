"""Figure (c)'s multi-process storms read escalation start times from the workers' JSON log."""

from __future__ import annotations

import json
from pathlib import Path

from bench.storm_workers import EscalationLog


def _line(workflow_id: str, template: str, at: str, event: str = "notification") -> bytes:
    entry = {"event": event, "workflow_id": workflow_id, "template": template, "timestamp": at}
    return json.dumps(entry).encode() + b"\n"


def test_first_escalation_per_case_and_partial_lines_wait(tmp_path: Path) -> None:
    log = tmp_path / "workers.log"
    first = _line("complaint-a", "escalation", "2026-12-03T11:00:00.250000Z")
    log.write_bytes(
        _line("complaint-a", "warning", "2026-12-03T10:59:50Z")
        + first
        + _line("complaint-a", "escalation", "2026-12-03T11:00:09Z")  # a later one: the first counts
        + b"not json\n"
        + _line("complaint-b", "escalation", "2026-12-03T11:00:01Z", event="delivered")
        + first.replace(b"complaint-a", b"complaint-c")[:30]  # still being written
    )
    watcher = EscalationLog(log)
    assert watcher.read() == {"complaint-a": 1796295600.25}
    with log.open("ab") as f:
        f.write(first.replace(b"complaint-a", b"complaint-c")[30:])
    assert watcher.read() == {"complaint-a": 1796295600.25, "complaint-c": 1796295600.25}

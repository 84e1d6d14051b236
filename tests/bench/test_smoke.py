"""Smoke test of the benchmark: `python -m bench --quick` runs every figure end to end (speed is what the
figures report; the timeout only catches a hang, generous because the machine is shared)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_quick_bench_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    # Its own session, so a hang stops the bench together with the servers it started.
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C: the bench's cleanup stops what it started
        try:
            stdout, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
        pytest.fail(f"bench --quick still running after 240 s\nstderr:\n{stderr[-3000:]}\nstdout:\n{stdout[-2000:]}")
    run = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    assert run.returncode == 0, f"exit {run.returncode}\nstdout:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-3000:]}"
    result = json.loads(out.read_text())
    figures = result["figures"]
    for key in "abcdefghijl":
        assert key in figures, f"figure ({key}) missing"
        assert "error" not in figures[key], f"figure ({key}) failed: {figures[key]['error']}"
        assert figures[key]["value"] is not None, f"figure ({key}) has no value"
    measured = {t["figure"] for t in result["targets"]}
    # (c) has targets at N = 200 and 1000 only, (j) at 100,000 closed cases, (l) at 100,000 cases
    assert measured == {"b/a", "b/ref", "d", "e", "f", "g", "h", "i"}
    causes = figures["j"]
    assert causes["cases"] == causes["report_cases"] == 2_000  # every seeded case is in the report's window
    assert "cases_closed_at_root_cause" in causes["indexes"]  # the plans were read (migration 011's index)
    read_model = figures["l"]
    states = read_model["seeding"]["states"]  # every queue state has cases, closed ones too
    assert states["cases"] == 2_000 and states["closed"] > 0
    assert all(states[k] > 0 for k in ("unassigned", "mine", "escalated", "paused", "proactive", "awaiting_approval"))
    assert read_model["case_events"] == 50 and read_model["list"]["listed_on_first_page"] == 50
    assert "cases_opened_at_workflow" in read_model["indexes"]  # the list's plans were read (migration 018)
    open_cases = figures["k"]
    assert "error" not in open_cases, f"figure (k) failed: {open_cases['error']}"
    assert open_cases["value"] is not None, "figure (k) has no value"
    # 50 cases on a worker caching 20: the 10 wave cases, opened first, were evicted and all warned
    assert open_cases["n"] == 50 and open_cases["wave_result"]["seen"] == 10
    assert open_cases["wave_result"]["cache"]["misses"] >= 10
    assert open_cases["replay_offline"]["n"] > 0 and open_cases["idle"]["cores"] is not None
    assert all(t["result"] in ("PASS", "MISS") for t in result["targets"])
    assert "result" in run.stdout and "(g)" in run.stdout  # the table was printed

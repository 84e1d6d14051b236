"""Smoke test of the soak figure: `python -m bench --only soak --minutes 0.1` runs a few seconds of the mixed
load through a real `recovery api` and `recovery worker` (its targets are what the 10-minute run reports;
here only that the load ran without an error and the JSON has its keys)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(150)
def test_a_short_soak_runs_the_whole_mix_without_an_error(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "--only", "soak", "--minutes", "0.1", "--json", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a hang stops the bench together with the servers it started
    )
    try:
        stdout, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            stdout, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
        pytest.fail(f"bench --only soak still running after 120 s\nstderr:\n{stderr[-3000:]}")
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{stdout[-3000:]}\nstderr:\n{stderr[-3000:]}"
    result = json.loads(out.read_text())
    assert set(result["figures"]) == {"soak"}  # --only soak runs the soak alone
    soak = result["figures"]["soak"]
    assert soak["errors"] == 0, soak["error_samples"]
    load = soak["load"]
    assert load["cases_opened"] == 6 and load["critical_cases"] == 1
    assert load["steps"] > 0 and load["repeat_contacts"] > 0 and load["console_pages"] > 0
    assert load["stream_events"] > 0 and load["stream_connects"] == 1
    assert soak["escalations_missing"] == 0 and soak["deadline_lateness_s"]["n"] == 1
    assert soak["value"] == soak["api_latency_ms"]["all"]["p95"] > 0
    for proc_name in ("api", "worker"):
        assert soak["rss"][proc_name]["at_end_kib"] > 0
    assert len(soak["samples"]) >= 3 and all(s["pg_connections"] > 0 for s in soak["samples"])
    # the API's and the worker's pools are told apart by their connections' application_name
    assert {"api", "worker", "sampler"} <= set(soak["samples"][-1]["pg_connections_by_owner"])
    measured = {t["figure"] for t in result["targets"]}
    assert measured == {
        "soak/p95",
        "soak/errors",
        "soak/rss-api",
        "soak/rss-worker",
        "soak/pg-connections",
        "soak/fds-api+worker",
        "soak/fds-postgres",
        "soak/late",
    }
    assert "soak" in stdout  # the table has its rows


def test_the_default_run_leaves_the_soak_out() -> None:
    from bench.__main__ import parse_args

    assert "soak" not in parse_args([]).only
    assert parse_args(["--only", "soak"]).only == {"soak"}
    assert parse_args(["--only", "d,soak"]).only == {"d", "soak"}
    assert parse_args(["--only", "ab"]).only == {"a", "b"}
    assert parse_args(["--only", "soak", "--minutes", "0.5"]).minutes == 0.5

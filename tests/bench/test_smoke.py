"""Smoke test of the benchmark: `python -m bench --quick` runs every figure end to end, in under a minute."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(90)
def test_quick_bench_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = subprocess.run([sys.executable, "-m", "bench", "--quick", "--json", str(out)], cwd=ROOT,
                         check=False, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, f"exit {run.returncode}\nstdout:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-3000:]}"
    result = json.loads(out.read_text())
    figures = result["figures"]
    for key in "abcdefg":
        assert key in figures, f"figure ({key}) missing"
        assert "error" not in figures[key], f"figure ({key}) failed: {figures[key]['error']}"
        assert figures[key]["value"] is not None, f"figure ({key}) has no value"
    measured = {t["figure"] for t in result["targets"]}
    assert measured == {"b/a", "c", "d", "e", "f", "g"}
    assert all(t["result"] in ("PASS", "MISS") for t in result["targets"])
    assert "result" in run.stdout and "(g)" in run.stdout  # the table was printed

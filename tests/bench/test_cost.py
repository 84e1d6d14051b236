"""`python -m bench.cost` on a hand-made run (tests/bench/fixtures/cost_run.json), numbers worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import cost

FIXTURE = str(Path(__file__).parent / "fixtures" / "cost_run.json")


def columns(price: float = 25.0, utilization: float = 0.5) -> dict[int, dict[str, object]]:
    figs, _ = cost.load([FIXTURE])
    inp = cost.inputs(figs)
    return {v: cost.monthly(inp, v, price, utilization) for v in cost.VOLUMES}


def test_inputs_from_the_figures() -> None:
    figs, source = cost.load([FIXTURE])
    inp = cost.inputs(figs)
    assert source == {"b": "cost_run.json", "c": "cost_run.json", "h": "cost_run.json"}
    assert inp["actions_per_case"] == 20.0
    assert inp["queries_per_case"] == 0.0  # no grpc_QueryWorkflow: the reads go to PostgreSQL
    # the storm size with the most actions per case (N = 200: 10), less its open's start and update (2)
    assert (inp["storm_n"], inp["storm_extra_actions"]) == (200, 8.0)
    assert (inp["history_bytes_per_case"], inp["pg_rows_per_case"], inp["pg_events_per_case"]) == (50000, 30.0, 12.0)
    assert (inp["pg_bytes_per_case"], inp["worker_cpu_ms_per_case"]) == (40960, 2592.0)


def test_hand_computed_columns() -> None:
    cols = columns()
    small, big = cols[10_000], cols[1_000_000]
    assert small["actions"] == 200_000  # 10⁴ × 20
    assert small["actions_cost_usd"] == pytest.approx(5.0)  # 0.2 M × 25 USD
    assert small["actions_escalating"] == 280_000  # 10⁴ × (20 + 8)
    assert small["actions_escalating_cost_usd"] == pytest.approx(7.0)
    assert small["queries"] == 0
    assert small["history_bytes"] == 500_000_000  # 10⁴ × 50 kB = 0.5 GB
    assert (small["pg_rows"], small["pg_bytes"]) == (300_000, 409_600_000)
    assert small["worker_cpu_s"] == pytest.approx(25_920)  # 10⁴ × 2.592 s
    assert small["worker_cores_mean"] == pytest.approx(0.01)  # / (30 × 86 400 s)
    assert small["worker_processes"] == 1
    assert big["actions_cost_usd"] == pytest.approx(500.0)  # 20 M actions
    assert big["worker_cores_mean"] == pytest.approx(1.0)
    assert big["worker_processes"] == 2  # one core's work at 50 % per process
    assert columns(price=50.0, utilization=0.25)[1_000_000]["worker_processes"] == 4
    assert columns(price=50.0)[1_000_000]["actions_cost_usd"] == pytest.approx(1000.0)


def test_markdown_and_missing_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cost.main(["--json", FIXTURE, "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "| per month (30 days) | 10,000 cases | 100,000 cases | 1,000,000 cases |\n|---|---|---|---|\n"
    )
    assert "| 5.00 USD | 50.00 USD | 500.00 USD |" in out
    assert "| 0.500 GB | 5.000 GB | 50.0 GB |" in out
    # a run without (h)'s sizes or (b): said so, with the command that measures them
    run = json.loads(Path(FIXTURE).read_text())
    del run["figures"]["b"], run["figures"]["h"]["kinds"]["real"]["postgres"]
    path = tmp_path / "run.json"
    path.write_text(json.dumps(run))
    assert cost.main(["--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "PostgreSQL rows (— per case, h) (not in the JSON: `python -m bench --only h`)" in out
    assert "not in the JSON: `python -m bench --only b`" in out

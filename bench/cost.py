"""`python -m bench.cost`: what 10⁴, 10⁵ and 10⁶ cases a month cost, from a bench run's JSON.

    python -m bench.cost --json bench.json                      # a plain table
    python -m bench.cost --json old.json --json new.json --markdown   # later files' figures win

Per month (30 days) and volume: Temporal actions (figure h's actions per standard lifecycle; a second
row with every case also warned twice and escalated once, from figure (c)'s actions per storm case) and
their price at `--price-per-million-actions` (a parameter, not a quote); queries (h's
`grpc_QueryWorkflow`: the console and the API read PostgreSQL, so 0); history written (h's history
bytes per lifecycle); PostgreSQL rows and bytes (h's per real lifecycle); worker CPU and processes (b's
worker+driver CPU ms per lifecycle, each process kept under `--worker-utilization` of one core). A
figure the JSON lacks is said so, with the command that measures it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

VOLUMES = (10_000, 100_000, 1_000_000)
MONTH_S = 30 * 86_400
OPEN_ACTIONS = ("grpc_ExecuteMultiOperation", "message_UpdateWorkflowExecution_Acceptance")
"""A storm case's actions that its open makes, which the lifecycle already counts."""


def load(paths: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The figures of every file, later files' figures replacing earlier ones; and each figure's file."""
    figs: dict[str, Any] = {}
    source: dict[str, str] = {}
    for path in paths:
        for key, fig in json.loads(Path(path).read_text())["figures"].items():
            if isinstance(fig, dict) and "error" not in fig:
                figs[key], source[key] = fig, Path(path).name
    return figs, source


def inputs(figs: dict[str, Any]) -> dict[str, Any]:
    """The per-case numbers the table is made of (None where the JSON does not have them)."""
    real = ((figs.get("h") or {}).get("kinds") or {}).get("real") or {}
    storms = [
        (int(n), run["actions_per_case"])
        for n, run in ((figs.get("c") or {}).get("sizes") or {}).items()
        if run.get("actions_per_case")
    ]
    storm = max(storms, key=lambda s: s[1]["total"]) if storms else None
    pg = real.get("postgres") or {}
    return {
        "actions_per_case": real.get("actions_per_lifecycle"),
        "queries_per_case": (real.get("by_type") or {}).get("grpc_QueryWorkflow", 0.0) if real else None,
        "storm_n": storm[0] if storm else None,
        "storm_extra_actions": round(storm[1]["total"] - sum(storm[1]["by_type"].get(k, 0.0) for k in OPEN_ACTIONS), 2)
        if storm
        else None,
        "history_bytes_per_case": (real.get("history") or {}).get("history_bytes"),
        "pg_rows_per_case": pg.get("rows_per_case"),
        "pg_events_per_case": (pg.get("rows_by_table") or {}).get("events"),
        "pg_bytes_per_case": pg.get("bytes_per_case"),
        "worker_cpu_ms_per_case": ((figs.get("b") or {}).get("cpu_ms_per_lifecycle") or {}).get("worker+driver"),
    }


def monthly(inp: dict[str, Any], volume: int, price: float, utilization: float) -> dict[str, Any]:
    """One volume's column: each value None where its input is."""

    def times(x: float | None) -> float | None:
        return None if x is None else volume * x

    actions = times(inp["actions_per_case"])
    extra = inp["storm_extra_actions"]
    escalating = None if actions is None or extra is None else actions + volume * extra
    cpu_s = None if inp["worker_cpu_ms_per_case"] is None else volume * inp["worker_cpu_ms_per_case"] / 1000
    cores = None if cpu_s is None else cpu_s / MONTH_S
    return {
        "cases": volume,
        "actions": actions,
        "actions_cost_usd": None if actions is None else actions / 1e6 * price,
        "actions_escalating": escalating,
        "actions_escalating_cost_usd": None if escalating is None else escalating / 1e6 * price,
        "queries": times(inp["queries_per_case"]),
        "history_bytes": times(inp["history_bytes_per_case"]),
        "pg_rows": times(inp["pg_rows_per_case"]),
        "pg_bytes": times(inp["pg_bytes_per_case"]),
        "worker_cpu_s": cpu_s,
        "worker_cores_mean": cores,
        "worker_processes": None if cores is None else max(1, math.ceil(cores / utilization - 1e-9)),
    }


def _n(x: float | None, digits: int = 0) -> str:
    return "—" if x is None else f"{x:,.{digits}f}"


def _gb(x: float | None) -> str:
    return "—" if x is None else f"{x / 1e9:,.{3 if x < 1e10 else 1}f} GB"


def rows(inp: dict[str, Any], cols: list[dict[str, Any]], price: float, utilization: float) -> list[list[str]]:
    """The table: a header, then one row per quantity (label, then one cell per volume)."""
    missing = "not in the JSON: `python -m bench --only h`"
    a, x, hb = inp["actions_per_case"], inp["storm_extra_actions"], inp["history_bytes_per_case"]
    pr, pe, pb = inp["pg_rows_per_case"], inp["pg_events_per_case"], inp["pg_bytes_per_case"]
    cpu = inp["worker_cpu_ms_per_case"]
    out = [["per month (30 days)", *(f"{c['cases']:,} cases" for c in cols)]]

    def row(label: str, key: str, cell: Any, known: bool, why: str = missing) -> None:
        if known:
            out.append([label, *(cell(c[key]) for c in cols)])
        else:
            out.append([f"{label} ({why})", *("—" for _ in cols)])

    row(f"Temporal actions, standard lifecycles ({_n(a, 1)} per case, h)", "actions", _n, a is not None)
    row(
        f"  at {price:g} USD per million actions (a parameter, not a quote)",
        "actions_cost_usd",
        lambda v: f"{v:,.2f} USD",
        a is not None,
    )
    row(
        f"Temporal actions if every case is also warned twice and escalated once (+{_n(x, 1)}, c at "
        f"N = {inp['storm_n']})",
        "actions_escalating",
        _n,
        a is not None and x is not None,
        "no storm actions in the JSON: `python -m bench --only c`",
    )
    row(
        f"  at {price:g} USD per million actions",
        "actions_escalating_cost_usd",
        lambda v: f"{v:,.2f} USD",
        a is not None and x is not None,
        "no storm actions in the JSON",
    )
    row(
        "queries (the console's and the API's reads go to PostgreSQL)",
        "queries",
        _n,
        inp["queries_per_case"] is not None,
    )
    row(f"history written ({_n(hb)} bytes per case, h)", "history_bytes", _gb, hb is not None)
    events = f", {_n(pe, 1)} of them events" if pe is not None else ""
    row(f"PostgreSQL rows ({_n(pr, 1)} per case{events}, h)", "pg_rows", _n, pr is not None)
    row(f"PostgreSQL size (tables and indexes, {_n(pb)} bytes per case, h)", "pg_bytes", _gb, pb is not None)
    row(
        f"worker CPU ({_n(cpu, 1)} ms per case, worker+driver, b)",
        "worker_cpu_s",
        lambda v: f"{v:,.0f} CPU-s",
        cpu is not None,
        "not in the JSON: `python -m bench --only b`",
    )
    row("  mean cores", "worker_cores_mean", lambda v: f"{v:.4f}", cpu is not None, "no CPU in the JSON")
    row(
        f"worker processes (each at most {utilization:.0%} of a core on average)",
        "worker_processes",
        lambda v: f"{v}",
        cpu is not None,
        "no CPU in the JSON",
    )
    return out


def render(table: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
        lines += ["| " + " | ".join(r) + " |" for r in table[1:]]
        return "\n".join(lines)
    width = max(len(r[0]) for r in table)
    cells = [max(len(r[i]) for r in table) for i in range(1, len(table[0]))]
    return "\n".join(
        f"{r[0]:<{width}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(r[1:], cells, strict=True)) for r in table
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="append", required=True, metavar="RUN.json", help="a bench run's JSON (repeatable)")
    p.add_argument("--price-per-million-actions", type=float, default=25.0, help="USD (a parameter, not a quote)")
    p.add_argument("--worker-utilization", type=float, default=0.5, help="mean share of a core per worker process")
    p.add_argument("--markdown", action="store_true", help="a Markdown table (for docs/performance.md)")
    args = p.parse_args(argv)
    figs, source = load(args.json)
    inp = inputs(figs)
    cols = [monthly(inp, v, args.price_per_million_actions, args.worker_utilization) for v in VOLUMES]
    print(render(rows(inp, cols, args.price_per_million_actions, args.worker_utilization), args.markdown))
    print("\nfrom " + ", ".join(f"({k}) {source[k]}" for k in sorted(source) if k in "bch"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

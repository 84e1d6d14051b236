"""Figure (i): the policy simulator over stored cases, read from the event store and replayed under a
candidate policy (no worker: it runs once the in-process workers have stopped)."""

from __future__ import annotations

from typing import Any

from bench.figures import Context, Figs, Figure, Table, Targets, fmt
from bench.simulation import figure_i


async def run(ctx: Context) -> Figs:
    return {"i": await figure_i(ctx.stack.pool, ctx.args.simulation_cases)}


def targets(figs: Figs, out: Targets) -> None:
    i = figs.get("i")
    if i and "error" not in i:
        out.add(
            "i",
            f"simulate {i['cases']} stored cases (s)",
            i["value"],
            "<",
            10.0,
            f"each case replays its {i['events'] / max(i['cases'], 1):.1f} events and every timer of the candidate "
            f"through the pure step machine (pydantic state, business-calendar arithmetic): read {i['read_s']} s, "
            f"simulate {i['simulate_s']} s on {i['workers']} processes; CPU s {i['cpu_s']} in this process, "
            f"{i.get('worker_processes_cpu_s')} in the worker processes",
        )


def rows(t: Table, fig: dict[str, Any]) -> None:
    t.row(
        "(i)",
        f"policy simulator, {fig['cases']} stored cases, read + simulate (s)",
        fmt(fig["value"], 2),
        *t.v("i"),
    )
    t.row(
        "",
        "  read / simulate (s), processes",
        f"{fmt(fig['read_s'], 2)} / {fmt(fig['simulate_s'], 2)}, {fig['workers']}",
    )


FIGURE = Figure(keys=("i",), run=run, rows={"i": rows}, after_workers=True)

"""Figure (e): projection lag, from a step's update returning to the read model holding its event."""

from __future__ import annotations

from typing import Any

from bench.figures import Context, Figs, Figure, Table, Targets, fmt
from bench.projection import figure_e


async def run(ctx: Context) -> Figs:
    args = ctx.args
    e = await figure_e(
        ctx.stack.client, ctx.stack.pool, ctx.real_queue, args.projection_cases, args.projection_concurrency
    )
    return {"e": e}


def targets(figs: Figs, out: Targets) -> None:
    e = figs.get("e")
    if e and "error" not in e:
        out.add(
            "e",
            "projection lag p95 (s)",
            e["value"],
            "<=",
            1.0,
            "the projection activity queues behind the step's own activities and the read-model refold",
        )


def rows(t: Table, fig: dict[str, Any]) -> None:
    t.row("(e)", "projection lag p50 / p95 (s)", f"{fmt(fig['lag_s']['p50'])} / {fmt(fig['value'])}", *t.v("e"))


FIGURE = Figure(keys=("e",), run=run, rows={"e": rows})

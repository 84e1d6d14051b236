"""Figure (f): worker memory per cached case, real over floor, each in its own worker subprocess (so it
runs once the in-process workers have stopped)."""

from __future__ import annotations

from typing import Any

from bench.figures import Context, Figs, Figure, Table, Targets, fmt
from bench.memory import figure_f


async def run(ctx: Context) -> Figs:
    args = ctx.args
    f = await figure_f(
        ctx.stack.client,
        ctx.stack.address,
        ctx.stack.database_url,
        args.memory_cases,
        args.memory_warmup,
        args.memory_chunks,
        args.open_concurrency,
        ctx.plan,
        ctx.tmp,
        args.memory_settle,
    )
    return {"f": f}


def targets(figs: Figs, out: Targets) -> None:
    f = figs.get("f")
    if f and "error" not in f:
        out.add(
            "f",
            "worker KiB per cached case, real / floor",
            f["value"],
            "<=",
            1.2,
            f"a cached complaint keeps its whole CaseState (policy snapshot, ticket, events, outbox) and its "
            f"sandboxed module copy: {f['real_kib_per_case']} vs {f['floor_kib_per_case']} KiB per case",
        )


def rows(t: Table, fig: dict[str, Any]) -> None:
    t.row("(f)", "worker memory per cached case real / floor (x)", fmt(fig["value"], 2), *t.v("f"))
    t.row(
        "",
        "  KiB per case real / floor",
        f"{fmt(fig['real_kib_per_case'], 1)} / {fmt(fig['floor_kib_per_case'], 1)}",
    )


FIGURE = Figure(keys=("f",), run=run, rows={"f": rows}, after_workers=True)

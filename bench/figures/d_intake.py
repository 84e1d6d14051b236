"""Figure (d): intake overhead, p95 of `POST /v1/tickets` through `recovery api` over p95 of the raw
update-with-start."""

from __future__ import annotations

from typing import Any

from bench.figures import Context, Figs, Figure, Table, Targets, fmt
from bench.intake import figure_d


async def run(ctx: Context) -> Figs:
    args = ctx.args
    d = await figure_d(
        ctx.stack.client,
        ctx.stack.address,
        ctx.real_queue,
        args.intake_requests,
        args.intake_concurrency,
        1 if args.quick else 10,
        ctx.tmp / "api.log",
    )
    return {"d": d}


def targets(figs: Figs, out: Targets) -> None:
    d = figs.get("d")
    if d and "error" not in d:
        out.add(
            "d",
            "intake p95 via API / raw update-with-start",
            d["value"],
            "<=",
            1.1,
            f"the API adds an HTTP hop, JSON parsing and pydantic validation ({d.get('p95_added_ms')} ms at p95) to a "
            f"{1000 * (d['raw_latency_s']['p95'] or 0):.1f} ms update-with-start",
        )


def rows(t: Table, fig: dict[str, Any]) -> None:
    t.row("(d)", "intake p95 API / p95 raw update-with-start", fmt(fig["value"], 2), *t.v("d"))
    t.row(
        "",
        "  p95 API / raw (ms)",
        f"{1000 * fig['api_latency_s']['p95']:.1f} / {1000 * fig['raw_latency_s']['p95']:.1f}",
    )


FIGURE = Figure(keys=("d",), run=run, rows={"d": rows})

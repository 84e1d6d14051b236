"""The optional worker-option variants (`--tuning`): real lifecycles under other worker options, listed
after the figures (no target)."""

from __future__ import annotations

from typing import Any

from bench.figures import Context, Figs, Figure, Table
from bench.tuning import tuning


async def run(ctx: Context) -> Figs:
    args = ctx.args
    return {
        "tuning": await tuning(ctx.stack.client, ctx.stack.pool, args.tuning_lifecycles, args.concurrency, ctx.groups)
    }


def section(t: Table, fig: dict[str, Any]) -> None:
    t.lines.append("")
    t.lines.append(
        f"worker-option variants (real lifecycles/s, concurrency {fig['concurrency']}, n={fig['lifecycles']} each):"
    )
    for variant in fig["variants"]:
        cpu = variant["cpu_ms_per_lifecycle"]
        t.lines.append(
            f"     {variant['variant']:<58} {variant['per_second']:>14.2f}  "
            f"(CPU ms/lifecycle: " + ", ".join(f"{k} {v}" for k, v in cpu.items()) + ")"
        )


FIGURE = Figure(keys=("tuning",), run=run, flag="tuning")

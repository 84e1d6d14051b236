"""Figure (g): a 30-day case on the time-skipping test server (its own server and worker, so it runs once
the in-process workers have stopped)."""

from __future__ import annotations

from typing import Any

from bench.figures import Context, Figs, Figure, Table, Targets, fmt
from bench.timeskip import figure_g


async def run(ctx: Context) -> Figs:
    return {"g": await figure_g(ctx.stack.pool, ctx.args.skip_days, variants=not ctx.args.quick)}


def targets(figs: Figs, out: Targets) -> None:
    g = figs.get("g")
    if g and "error" not in g:
        m = g["measured"]
        q = g["without_daily_status_updates"]
        quiet = f"; without the daily updates {q['wall_s']:.3f} s for {q['history_events']} history events" if q else ""
        out.add(
            "g",
            f"{g['days_idle']}-day case on the time-skipping server (s)",
            g["value"],
            "<",
            0.5,
            f"every simulated timer is a real round trip through the worker: {m['history_events']} history events, "
            f"{m['domain_events']} domain events ({m['event_types'].get('customer_updated', 0)} daily status "
            f"updates), each with a notification and a projection activity; CPU s {m['cpu_seconds']}{quiet}",
        )


def rows(t: Table, fig: dict[str, Any]) -> None:
    t.row("(g)", f"{fig['days_idle']}-day case, time-skipping server, wall (s)", fmt(fig["value"], 3), *t.v("g"))
    if fig.get("without_daily_status_updates"):
        t.row(
            "",
            "  same case without the daily status updates (s)",
            fmt(fig["without_daily_status_updates"]["wall_s"], 3),
        )


FIGURE = Figure(keys=("g",), run=run, rows={"g": rows}, after_workers=True)

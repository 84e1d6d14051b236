"""Figure (h): billable actions per standard lifecycle, by action type, from the dev server's `action`
counter. It runs alone (right after (a)/(b)): the counter must see only the measured batch."""

from __future__ import annotations

from typing import Any

from bench.actions import TARGET, cause, figure_h
from bench.figures import Context, Figs, Figure, Table, Targets, fmt


async def run(ctx: Context) -> Figs:
    args = ctx.args
    h = await figure_h(
        ctx.stack.client,
        ctx.stack.metrics_url,
        ctx.queues,
        args.action_lifecycles,
        args.concurrency,
        ctx.plan,
        ctx.stack.pool,
    )
    return {"h": h}


def targets(figs: Figs, out: Targets) -> None:
    h = figs.get("h")
    if h and "error" not in h:
        out.add("h", "real actions per standard lifecycle", h["value"], "<=", TARGET, cause(h))


def rows(t: Table, fig: dict[str, Any]) -> None:
    kinds = fig["kinds"]
    t.row(
        "(h)",
        f"actions per lifecycle, real (n={kinds['real']['lifecycles']} alone)",
        fmt(fig["value"], 1),
        *t.v("h"),
    )
    t.row(
        "",
        "  actions per lifecycle floor / reference",
        f"{fmt(kinds['floor']['actions_per_lifecycle'], 1)} / {fmt(kinds['reference']['actions_per_lifecycle'], 1)}",
    )
    sizes = [kinds[k]["history"].get("history_bytes") for k in ("real", "floor", "reference")]
    if all(x is not None for x in sizes):
        t.row("", "  history bytes per lifecycle real / floor / ref", " / ".join(f"{x:.0f}" for x in sizes))
    pg = kinds["real"].get("postgres")
    if pg:
        t.row(
            "",
            "  PostgreSQL rows / bytes added per real lifecycle",
            f"{pg['rows_per_case']:g} / {pg['bytes_per_case']}",
        )
    real_types = kinds["real"]["by_type"]
    types = sorted({n for k in kinds.values() for n in k["by_type"]}, key=lambda n: -real_types.get(n, 0))
    for name in types:
        t.row(
            "",
            f"  {name.removeprefix('command_').removeprefix('grpc_')} real / floor / ref"[:58],
            " / ".join(f"{kinds[k]['by_type'].get(name, 0):g}" for k in ("real", "floor", "reference")),
        )
    storms = (t.figs.get("c") or {}).get("sizes") or {}
    for n, run in storms.items():
        acts = run.get("actions_per_case")
        if acts:
            t.row("", f"  actions per storm case N={n} (open, 2 warnings, escalation)", fmt(acts["total"], 1))


FIGURE = Figure(keys=("h",), run=run, rows={"h": rows})

"""Figures (a) and (b), which always run together: floor and real lifecycles per second in alternating
rounds (with the reference workflow's), their ratios `b/a` and `b/ref` and what a lifecycle costs each."""

from __future__ import annotations

from typing import Any

from bench.figures import Context, Figs, Figure, Table, Targets, fmt
from bench.lifecycle import figures_a_b


async def run(ctx: Context) -> Figs:
    args = ctx.args
    a, b, shapes = await figures_a_b(
        ctx.stack.client,
        ctx.real_queue,
        ctx.floor_queue,
        ctx.reference_queue,
        lifecycles=args.lifecycles,
        concurrency=args.concurrency,
        rounds=args.rounds,
        warmup=args.warmup,
        cpu_groups=ctx.groups,
        replays=1 if args.quick else 5,
        pool=ctx.stack.pool,
    )
    ctx.plan = shapes["plan"]
    return {"a": a, "b": b}


def floor_target(figs: Figs, out: Targets) -> None:
    """`b/a` (and `figures.b.ratio_to_floor`)."""
    a, b = figs.get("a"), figs.get("b")
    if a and b and "error" not in a and "error" not in b:
        ratio = b["value"] / a["value"] if a["value"] else None
        b["ratio_to_floor"] = ratio
        hr, hf = b["history"], a["history"]
        cpu_r, cpu_f = b["cpu_ms_per_lifecycle"], a["cpu_ms_per_lifecycle"]
        cause = (
            f"the real lifecycle costs more per lifecycle: history {hr['history_events']} vs {hf['history_events']} "
            f"events, {hr['activities_total']} vs {hf['activities_total']} activities "
            f"({hr['activities'].get('project_events', 0)} vs {hf['activities'].get('project_events', 0)} projection "
            f"batches), {hr['search_attribute_upserts']} search-attribute upserts and "
            f"{hr['properties_modified']} property changes vs {hf['search_attribute_upserts']}; replaying the history "
            f"takes {hr.get('replay_cpu_ms')} vs {hf.get('replay_cpu_ms')} CPU ms (workflow code); CPU ms/lifecycle "
            + ", ".join(f"{k} {cpu_r.get(k)} vs {cpu_f.get(k)}" for k in cpu_r)
        )
        out.add("b/a", "real / floor lifecycles per second", ratio, ">=", 0.8, cause)


def reference_target(figs: Figs, out: Targets) -> None:
    """`b/ref` (and `figures.b.ratio_to_reference`)."""
    b = figs.get("b")
    ref = (b or {}).get("reference")
    if b and ref and "error" not in b:
        ratio = b["value"] / ref["value"] if ref["value"] else None
        b["ratio_to_reference"] = ratio
        hr, hx = b["history"], ref["history"]
        cpu_x = ref["cpu_ms_per_lifecycle"]
        out.add(
            "b/ref",
            "real / reference lifecycles per second",
            ratio,
            ">=",
            0.8,
            f"history {hr['history_events']} vs {hx['history_events']} events, {hr['activities_total']} vs "
            f"{hx['activities_total']} activities, {hr['search_attribute_upserts']} vs "
            f"{hx['search_attribute_upserts']} search-attribute upserts, {hr['timers_started']} vs "
            f"{hx['timers_started']} timers; CPU ms/lifecycle "
            + ", ".join(f"{k} {b['cpu_ms_per_lifecycle'].get(k)} vs {x}" for k, x in cpu_x.items()),
        )


def rows_a(t: Table, fig: dict[str, Any]) -> None:
    t.row("(a)", f"floor lifecycles/s (concurrency {fig['concurrency']}, n={fig['lifecycles']})", fmt(fig["value"], 2))
    t.row(
        "",
        "  lifecycle latency p50 / p95 (s)",
        f"{fmt(fig['latency_s']['p50'], 2)} / {fmt(fig['latency_s']['p95'], 2)}",
    )


def rows_b(t: Table, fig: dict[str, Any]) -> None:
    t.row("(b)", f"real lifecycles/s (concurrency {fig['concurrency']}, n={fig['lifecycles']})", fmt(fig["value"], 2))
    t.row(
        "",
        "  lifecycle latency p50 / p95 (s)",
        f"{fmt(fig['latency_s']['p50'], 2)} / {fmt(fig['latency_s']['p95'], 2)}",
    )
    t.row("b/a", "real / floor", fmt(fig.get("ratio_to_floor"), 2), *t.v("b/a"))
    if fig.get("reference"):
        t.row("", "  reference lifecycles/s (fixed minimal workflow)", fmt(fig["reference"]["value"], 2))
        t.row("b/ref", "real / reference", fmt(fig.get("ratio_to_reference"), 2), *t.v("b/ref"))
    floor_fig = t.figs.get("a") or {}
    if "history" in floor_fig:
        t.row(
            "",
            "  history events per lifecycle real / floor",
            f"{fig['history']['history_events']} / {floor_fig['history']['history_events']}",
        )
        t.row(
            "",
            "  replay CPU ms per lifecycle (workflow code) real / floor",
            f"{fig['history'].get('replay_cpu_ms')} / {floor_fig['history'].get('replay_cpu_ms')}",
        )
        cpu_r, cpu_f = fig["cpu_ms_per_lifecycle"], floor_fig["cpu_ms_per_lifecycle"]
        for name in cpu_r:
            t.row("", f"  CPU ms per lifecycle, {name}, real / floor", f"{cpu_r[name]} / {cpu_f.get(name)}")


FIGURE = Figure(keys=("a", "b"), run=run, rows={"a": rows_a, "b": rows_b})

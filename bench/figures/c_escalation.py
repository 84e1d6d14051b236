"""Figure (c): escalation precision, the delay of N coinciding escalations for each storm size and number
of worker processes, against the p95 targets of `bench.escalation.TARGETS`."""

from __future__ import annotations

from typing import Any

from bench.escalation import figure_c
from bench.figures import Context, Figs, Figure, Table, Targets, fmt

_SPLIT = ("timer_armed_late_s", "timer_fired_late_s", "workflow_task_s", "activity_dispatch_s")


async def run(ctx: Context) -> Figs:
    args = ctx.args
    c = await figure_c(
        ctx.stack.client,
        ctx.real_queue,
        ctx.notifier,
        args.sizes,
        args.escalation_budget,
        args.open_concurrency,
        ctx.groups,
        10 if args.quick else 20,
        ctx.stack.metrics_url,
        args.processes,
        ctx.stack.address,
        ctx.stack.database_url,
        ctx.tmp,
        whole_minute=not args.quick,
    )
    return {"c": c}


def targets(figs: Figs, out: Targets) -> None:
    c = figs.get("c")
    if c and "error" not in c:
        for series in c["processes"].values():
            for n, run in series["sizes"].items():
                bound = c["targets_p95_s"].get(n)
                if bound is None:
                    continue
                split = ", ".join(
                    f"{k.removesuffix('_s')} {1000 * x:.0f} ms"
                    for k, x in (run.get("median_split_s") or {}).items()
                    if x is not None
                )
                out.add(
                    f"c/{n}/{series['processes']}p",
                    f"escalation delay p95 at N={n}, {series['processes']} worker process(es) (s)",
                    run["delay_s"]["p95"],
                    "<=",
                    bound,
                    f"{n} deadlines (and their warnings) fall due at once; each needs a workflow task and its "
                    f"plan, queued at the dev server and the worker(s) on the same cores (median split: {split}; "
                    f"CPU s in the storm: "
                    f"{run.get('cpu_seconds')})",
                )


def rows(t: Table, fig: dict[str, Any]) -> None:
    for series in fig["processes"].values():
        p = series["processes"]
        for n, run in series["sizes"].items():
            d = run["delay_s"]
            t.row(
                "(c)" if not t.lines[-1].startswith("(c)") and n == next(iter(series["sizes"])) else "",
                f"escalation delay p50 / p95 (s), N={n}, {p} worker process(es)",
                f"{fmt(d['p50'], 3)} / {fmt(d['p95'], 3)}",
                *t.v(f"c/{n}/{p}p"),
            )
            split = run.get("median_split_s") or {}
            if split:
                t.row(
                    "",
                    "  median: armed late / fired late / wf task / dispatch (ms)",
                    " / ".join(f"{1000 * (split.get(k) or 0):.0f}" for k in _SPLIT),
                )
            cpu = run.get("cpu_seconds") or {}
            if cpu:
                t.row("", "  CPU s: " + " / ".join(cpu), " / ".join(f"{x:.1f}" for x in cpu.values()))


FIGURE = Figure(keys=("c",), run=run, rows={"c": rows})

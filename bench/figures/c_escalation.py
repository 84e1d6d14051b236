"""Figure (c): escalation precision, the delay of N coinciding escalations for each storm size and number
of worker processes, against the p95 targets of `bench.escalation.TARGETS`; and, in the same run at the
same N, the storm floor (`bench.floor_storm`: bare workflows with the same wakeups on a worker of their
own) with real p95 / floor p95 against `bench.floor_storm.RATIO_TARGETS` (1 worker process)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bench.escalation import figure_c
from bench.figures import Context, Figs, Figure, Table, Targets, fmt
from bench.floor_storm import RATIO_TARGETS, StormFloorRecorder, build_storm_floor_worker, floor_storm
from bench.metrics import ActionMeter
from bench.procs import CpuMeter

_SPLIT = ("timer_armed_late_s", "timer_fired_late_s", "workflow_task_s", "activity_dispatch_s")


async def run(ctx: Context) -> Figs:
    args = ctx.args
    recorder = StormFloorRecorder()
    stack = ctx.stack
    floor_queue = "bench-storm-floor"
    meter = CpuMeter(ctx.groups)

    async def floor(n: int, rate: float) -> dict[str, Any]:
        actions = ActionMeter(stack.metrics_url, stack.client.namespace) if stack.metrics_url else None
        return await floor_storm(
            stack.client, floor_queue, recorder, n, args.escalation_budget, args.open_concurrency, rate, meter, actions
        )

    async with build_storm_floor_worker(stack.client, floor_queue, recorder):
        c = await _real(ctx, floor if 1 in args.processes else None)
    c["floor_ratio_targets"] = {str(k): v for k, v in RATIO_TARGETS.items()}
    return {"c": c}


async def _real(ctx: Context, floor: Callable[[int, float], Awaitable[dict[str, Any]]] | None) -> dict[str, Any]:
    args = ctx.args
    return await figure_c(
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
        floor=floor,
    )


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
                    f"{run.get('cpu_seconds')})"
                    + (
                        f"; the storm floor at this N (bare workflows, the same wakeups): p95 "
                        f"{fmt(run['floor']['delay_s']['p95'], 2)} s"
                        if "floor" in run
                        else ""
                    ),
                )


def floor_targets(figs: Figs, out: Targets) -> None:
    c = figs.get("c")
    if not c or "error" in c:
        return
    for n, run in ((c.get("processes") or {}).get("1p") or {}).get("sizes", {}).items():
        bound = (c.get("floor_ratio_targets") or {}).get(n)
        if bound is None or "floor" not in run:
            continue
        out.add(
            f"c/{n}/floor",
            f"storm p95 real / floor at N={n}, 1 worker process",
            run["ratio_p95"],
            "<=",
            bound,
            floor_cause(run),
        )


def floor_cause(run: dict[str, Any]) -> str:
    """The measured difference between the engine's storm and the floor's at one size."""
    floor = run["floor"]

    def split(r: dict[str, Any]) -> str:
        if not r.get("median_split_s"):
            return "— (no deadline timer sampled: the wakeups fell due together)"
        return " / ".join(f"{1000 * ((r.get('median_split_s') or {}).get(k) or 0):.0f}" for k in _SPLIT)

    def cpu(r: dict[str, Any]) -> str:
        return " / ".join(f"{x:.1f}" for x in (r.get("cpu_seconds") or {}).values())

    def acts(r: dict[str, Any]) -> str:
        return fmt((r.get("actions_per_case") or {}).get("total"), 1)

    return (
        f"p95 real {fmt(run['delay_s']['p95'], 2)} s vs floor {fmt(floor['delay_s']['p95'], 2)} s; median split "
        f"armed late / fired late / wf task / in task (ms) real {split(run)} vs floor {split(floor)}; CPU s "
        f"{' / '.join(run.get('cpu_seconds') or {})} real {cpu(run)} vs floor {cpu(floor)}; actions per case "
        f"real {acts(run)} vs floor {acts(floor)}: where the splits and the worker CPU differ is the engine's "
        f"own work per wakeup"
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
            floor = run.get("floor")
            if floor:
                fd, fc = floor["delay_s"], floor.get("cpu_seconds") or {}
                t.row(
                    "",
                    "  floor (bare workflows, same wakeups) p50 / p95 (s)",
                    f"{fmt(fd['p50'], 3)} / {fmt(fd['p95'], 3)}",
                )
                fs = floor.get("median_split_s") or {}
                if fs:
                    t.row(
                        "",
                        "  floor median: armed / fired / wf task / dispatch (ms)",
                        " / ".join(f"{1000 * (fs.get(k) or 0):.0f}" for k in _SPLIT),
                    )
                t.row("", "  floor CPU s: " + " / ".join(fc), " / ".join(f"{x:.1f}" for x in fc.values()))
                t.row("", "  real / floor p95", fmt(run.get("ratio_p95"), 2), *t.v(f"c/{n}/floor"))


FIGURE = Figure(keys=("c",), run=run, rows={"c": rows})

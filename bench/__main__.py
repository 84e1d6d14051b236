"""`python -m bench`: the engine's performance figures (a)–(l) against one dev server it starts itself.

    python -m bench                     # defaults: a few minutes on 2 cores
    python -m bench --quick             # tiny sizes (the smoke test)
    python -m bench --json out.json     # also write every number as JSON
    python -m bench --only a,b          # some figures ((a) and (b) always run together)
    python -m bench --only soak         # the soak (10 minutes of mixed load; never in the default run)

Figures: (a) floor lifecycles/s, (b) real lifecycles/s, (b)/(a) and real / reference, (c) escalation
precision, (d) intake overhead, (e) projection lag, (f) worker memory per cached case, (g) a 30-day case on
the time-skipping server, (h) billable actions per lifecycle (the dev server's `action` counter), (i) the
policy simulator over stored cases, (j) the causes report over 100,000 closed cases, (k) 20,000 open cases
(memory, eviction, idle CPU, a wave of warnings), (l) the console, the API, the SLA report and the simulator
over 100,000 cases in the read model. Named figures (`soak`) run only when `--only` names them. See
docs/performance.md for what each measures and what limits it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import RecordingNotifier, configure_file_logging, say, start_stack
from bench.figures import (
    Context,
    Figs,
    Figure,
    Table,
    Targets,
    ab_lifecycles,
    c_escalation,
    d_intake,
    e_projection,
    f_memory,
    g_timeskip,
    h_actions,
    i_simulation,
    j_causes,
    k_open_cases,
    l_read_model,
    soak,
    tuning,
)
from bench.procs import busy_cpu_seconds, find_named, load_average, machine, own_cpu_seconds

FIGURES = "abcdefghijkl"
NAMED = ("soak",)
"""Figures `--only` selects by name only: the default run leaves them out (the soak takes 10 minutes)."""

REGISTRY: tuple[Figure, ...] = (
    ab_lifecycles.FIGURE,
    h_actions.FIGURE,  # alone: the server's action counter must see only the measured batch
    e_projection.FIGURE,
    d_intake.FIGURE,
    c_escalation.FIGURE,
    tuning.FIGURE,
    f_memory.FIGURE,
    g_timeskip.FIGURE,
    i_simulation.FIGURE,
    j_causes.FIGURE,
    k_open_cases.FIGURE,
    l_read_model.FIGURE,
    soak.FIGURE,
)
"""The figures (bench/figures/, one module each) in the order they run: those with the in-process workers
first, then those that start their own (`after_workers`)."""

TARGETS = (
    ab_lifecycles.floor_target,
    c_escalation.targets,
    c_escalation.floor_targets,
    d_intake.targets,
    e_projection.targets,
    f_memory.targets,
    g_timeskip.targets,
    ab_lifecycles.reference_target,
    h_actions.targets,
    i_simulation.targets,
    j_causes.targets,
    k_open_cases.targets,
    l_read_model.targets,
    soak.targets,
)
"""The figures' targets, in the order of the JSON's `targets` (and of the table's MISS causes)."""

ROWS = {key: rows for figure in REGISTRY for key, rows in (figure.rows or {}).items()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes for a smoke run (overrides the sizes below)")
    p.add_argument("--json", metavar="PATH", help="write all results as JSON to PATH")
    p.add_argument(
        "--only", default=FIGURES, help="figures to run, e.g. a,b,e (a and b always go together) or soak (by name only)"
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (databases, logs)")
    g = p.add_argument_group("(a)/(b) lifecycles")
    g.add_argument("--lifecycles", type=int, default=100, help="measured lifecycles of EACH kind")
    g.add_argument("--concurrency", type=int, default=16, help="lifecycles in flight")
    g.add_argument("--rounds", type=int, default=2, help="alternating floor/real rounds")
    g.add_argument("--warmup", type=int, default=8, help="unmeasured lifecycles of each kind first")
    g = p.add_argument_group("(c) escalation precision")
    g.add_argument("--escalation-sizes", default="50,200,1000", help="N cases per storm, comma-separated")
    g.add_argument(
        "--storm-processes",
        default="1,2",
        help="worker processes per storm series: 1 = the in-process worker, more = `recovery worker --processes P`",
    )
    g.add_argument(
        "--escalation-budget",
        type=int,
        default=15,
        help="acknowledge budget in seconds (warnings at 50%% and 75%% of it fire as storms too)",
    )
    g.add_argument("--open-concurrency", type=int, default=32, help="opens in flight in bursts ((c) and (f))")
    g = p.add_argument_group("(d) intake")
    g.add_argument("--intake-requests", type=int, default=100, help="requests per path (API and raw)")
    g.add_argument("--intake-concurrency", type=int, default=1)
    g = p.add_argument_group("(e) projection lag")
    g.add_argument("--projection-cases", type=int, default=30, help="cases (4 samples each)")
    g.add_argument("--projection-concurrency", type=int, default=4)
    g = p.add_argument_group("(f) memory")
    g.add_argument("--memory-cases", type=int, default=300, help="cases opened per worker after the warm-up")
    g.add_argument("--memory-warmup", type=int, default=20)
    g.add_argument("--memory-chunks", type=int, default=3)
    g.add_argument("--memory-settle", type=float, default=1.0, help="seconds to let activities finish before a sample")
    g = p.add_argument_group("worker-option variants (optional)")
    g.add_argument(
        "--tuning",
        action="store_true",
        help="also run real lifecycles under other worker options (cache size, slots, eager activities)",
    )
    g.add_argument("--tuning-lifecycles", type=int, default=64, help="measured lifecycles per variant")
    g = p.add_argument_group("(g) time skipping")
    g.add_argument("--skip-days", type=int, default=30, help="days the case sits idle")
    g = p.add_argument_group("(h) actions per lifecycle")
    g.add_argument("--action-lifecycles", type=int, default=20, help="lifecycles of each kind in each counted batch")
    g = p.add_argument_group("(i) policy simulator")
    g.add_argument("--simulation-cases", type=int, default=10_000, help="stored cases to simulate")
    g = p.add_argument_group("(j) causes report")
    g.add_argument("--causes-cases", type=int, default=100_000, help="closed cases seeded through the projection")
    g.add_argument("--causes-concurrency", type=int, default=4, help="seeding connections (250 cases a transaction)")
    g = p.add_argument_group("(k) open cases")
    g.add_argument("--open-cases", type=int, default=20_000, help="cases open at once, deadlines hours away")
    g.add_argument("--open-cases-wave", type=int, default=1_000, help="of them, cases whose warnings coincide")
    g.add_argument("--open-cases-idle", type=float, default=60.0, help="seconds of idle CPU measured")
    g.add_argument("--open-cases-concurrency", type=int, default=32, help="opens in flight")
    g.add_argument(
        "--open-cases-cache", type=int, default=None, help="the worker's max_cached_workflows (default: as configured)"
    )
    g = p.add_argument_group("(l) read model at scale")
    g.add_argument("--read-model-cases", type=int, default=100_000, help="cases seeded through the projection")
    g.add_argument("--read-model-concurrency", type=int, default=4, help="seeding connections")
    g.add_argument("--read-model-case-events", type=int, default=300, help="events of the case whose page is timed")
    g = p.add_argument_group("soak (only with --only soak)")
    g.add_argument("--minutes", type=float, default=10.0, help="minutes of mixed load (fractions allowed)")
    args = p.parse_args(argv)
    if args.quick:
        args.lifecycles, args.concurrency, args.rounds, args.warmup = 5, 5, 1, 0
        args.escalation_sizes, args.escalation_budget, args.open_concurrency = "10", 3, 10
        args.storm_processes = "1"
        args.intake_requests, args.intake_concurrency = 20, 1
        args.projection_cases, args.projection_concurrency = 4, 2
        args.memory_cases, args.memory_warmup, args.memory_chunks, args.memory_settle = 6, 2, 1, 0.3
        args.simulation_cases, args.action_lifecycles = 100, 2
        args.causes_cases = 2_000
        args.read_model_cases, args.read_model_case_events = 2_000, 50
        args.open_cases, args.open_cases_wave, args.open_cases_idle, args.open_cases_cache = 50, 10, 3.0, 20
    words = [w.strip() for w in args.only.split(",")]
    args.only = {w for w in words if w in NAMED} | {f for w in words if w not in NAMED for f in w if f in FIGURES}
    if args.only & {"a", "b"}:
        args.only |= {"a", "b"}
    args.sizes = [int(x) for x in args.escalation_sizes.split(",") if x.strip()]
    args.processes = tuple(int(x) for x in args.storm_processes.split(",") if x.strip())
    return args


# ---- targets and the table ---------------------------------------------------------------------


def targets(figs: Figs) -> list[dict[str, Any]]:
    """Each target with its value, PASS/MISS, and (for a MISS) the cause the numbers point at."""
    out = Targets()
    for add in TARGETS:
        add(figs, out)
    return out.rows


def table(result: dict[str, Any]) -> str:
    figs = result["figures"]
    t = Table(figs, result["targets"])
    t.row("fig", "measure", "value", "target", "result")
    t.lines.append("-" * 96)
    for key in (*FIGURES, *NAMED):
        fig = figs.get(key)
        if fig is None:
            continue
        if "error" in fig:
            t.row(f"({key})", f"ERROR: {fig['error']}"[:58], "—", "", "MISS")
            continue
        ROWS[key](t, fig)
    tuned = figs.get("tuning")
    if tuned and "error" not in tuned:
        tuning.section(t, tuned)
    misses = [x for x in result["targets"] if x["result"] == "MISS"]
    if misses:
        t.lines.append("")
        t.lines.append("MISS causes:")
        for x in misses:
            t.lines.append(f"  {x['figure']}: {x['cause']}")
    errors = [(k, f["error"]) for k, f in figs.items() if "error" in f]
    for key, error in errors:
        t.lines.append(f"  ({key}) failed: {error}")
    return "\n".join(t.lines)


CPU_AT_END: dict[str, float] = {}


# ---- the run -----------------------------------------------------------------------------------


async def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from temporalio.worker import Worker

    from bench.floor import DEFAULT_PLAN, build_floor_worker
    from bench.reference import build_reference_worker
    from worker import build_worker

    marker = str(tmp)
    figs: dict[str, Any] = {}
    stack = await start_stack(tmp)
    me = os.getpid()
    groups = {
        "worker+driver": lambda: [me],
        "temporal": lambda: find_named(marker, "temporal"),
        "postgres": lambda: find_named(marker, "postgres"),
    }
    notifier = RecordingNotifier()
    ctx = Context(args, tmp, stack, notifier, groups, "bench-real", "bench-floor", "bench-reference", DEFAULT_PLAN)
    real_worker: Worker = build_worker(stack.client, pool=stack.pool, queue=ctx.real_queue, notifier=notifier)
    floor_worker: Worker = build_floor_worker(stack.client, ctx.floor_queue)
    reference_worker: Worker = build_reference_worker(stack.client, ctx.reference_queue)

    async def measure(figure: Figure) -> None:
        started = time.perf_counter()
        try:
            results = await figure.run(ctx)
        except Exception as err:
            traceback.print_exc(file=sys.stderr)
            results = {key: {"error": f"{type(err).__name__}: {err}"} for key in figure.keys}
        for key, result in results.items():
            figs[key] = result
            result["bench_seconds"] = round(time.perf_counter() - started, 1)

    try:
        async with real_worker, floor_worker, reference_worker:
            for figure in REGISTRY:
                if not figure.after_workers and figure.selected(args):
                    await measure(figure)
        for figure in REGISTRY:
            if figure.after_workers and figure.selected(args):
                await measure(figure)
        # CPU totals before the servers stop (the embedded PostgreSQL is not our child: its time is lost at exit)
        CPU_AT_END.update(busy=busy_cpu_seconds(), own=own_cpu_seconds(marker))
    finally:
        await stack.close()
    return figs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="recovery-bench-"))
    configure_file_logging(tmp / "worker.log")
    load_before = load_average()
    busy_before, own_before = busy_cpu_seconds(), own_cpu_seconds(str(tmp))
    started_at = datetime.now(UTC)
    t0 = time.perf_counter()
    say(f"temporary folder {tmp}; load average before {load_before}")
    try:
        figs = asyncio.run(run(args, tmp))
    finally:
        from activities.store import stop_embedded

        stop_embedded()
    wall = time.perf_counter() - t0
    busy = CPU_AT_END.get("busy", busy_cpu_seconds()) - busy_before
    own = CPU_AT_END.get("own", own_cpu_seconds(str(tmp))) - own_before
    result: dict[str, Any] = {
        "meta": {
            "started_at": started_at.isoformat(timespec="seconds"),
            "wall_s": round(wall, 1),
            "quick": args.quick,
            "args": {k: v for k, v in vars(args).items() if k not in ("only", "sizes", "processes")}
            | {"only": sorted(args.only)},
            "machine": machine(),
            "load_average_before": load_before,
            "load_average_after": load_average(),
            "cpu_s_all_processes": round(busy, 1),
            "cpu_s_this_benchmark": round(own, 1),
            "cpu_s_other_processes": round(max(0.0, busy - own), 1),
            "dev_server": "temporal server start-dev, SQLite file database, journal_mode=wal, synchronous=normal",
            "temp_folder": str(tmp) if args.keep else None,
        },
        "figures": figs,
    }
    result["targets"] = targets(figs)
    print(table(result))
    print(
        f"\nwall {wall:.0f}s; load average before {load_before}, after {result['meta']['load_average_after']}; "
        f"CPU: this benchmark {own:.0f}s, other processes {max(0.0, busy - own):.0f}s of {busy:.0f}s busy "
        f"({os.cpu_count()} cores × {wall:.0f}s = {(os.cpu_count() or 1) * wall:.0f}s available)"
    )
    text = json.dumps(result, indent=2, default=str)
    if args.json:
        Path(args.json).write_text(text + "\n")
        print(f"JSON: {args.json}")
    else:
        print("\n" + text)
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if any("error" in f for f in figs.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

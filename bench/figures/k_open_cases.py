"""Figure (k): 20,000 open cases at once on one worker process — the time to open them, the dev
server's and the worker's RSS, the worker's memory with its cache full and what an evicted case costs
when its timer fires, idle CPU with nothing due, then a wave of 1,000 of their warnings
(`bench.open_cases`). Runs once the in-process workers have stopped (it starts its own)."""

from __future__ import annotations

from typing import Any

from bench.figures import Context, Figs, Figure, Table, Targets, fmt
from bench.open_cases import figure_k

TARGET_N = 20_000
"""The targets are for the issue's size; a smaller run (the smoke test's) reports its figures only."""

IDLE_CORES = 0.05
"""Idle: ≤ 5 % of one core for the dev server, the worker and PostgreSQL together. Nothing is due, so
the only work is long polls and the servers' housekeeping; any per-case polling would show as CPU
growing with the 20,000 cases."""

WAVE_P95_S = 10.0
"""The wave of 1,000 warnings: p95 ≤ 10 s, (c)'s bound for a storm of 1,000 — the same wave size, so
what 20,000 open cases and the replay of evicted ones add shows against it."""

MEMORY_RATIO = 1.10
"""Worker RSS with every case open ≤ 1.1 × its RSS when the cache filled: memory bounded by
`max_cached_workflows`, not by the open cases."""


async def run(ctx: Context) -> Figs:
    args = ctx.args
    k = await figure_k(
        ctx.stack.client,
        ctx.stack.address,
        ctx.stack.database_url,
        ctx.tmp,
        ctx.groups,
        args.open_cases,
        min(args.open_cases_wave, args.open_cases),
        args.open_cases_idle,
        args.open_cases_concurrency,
        args.open_cases_cache,
        coincide=not args.quick,
        server_metrics=ctx.stack.metrics_url,
    )
    k["targets"] = {"n": TARGET_N, "idle_cores": IDLE_CORES, "wave_p95_s": WAVE_P95_S, "memory_ratio": MEMORY_RATIO}
    return {"k": k}


def _cpu(cpu: dict[str, float] | None) -> str:
    return ", ".join(f"{name} {s:.2f}" for name, s in (cpu or {}).items())


def _idle_detail(idle: dict[str, Any]) -> str:
    """Each half's CPU-s (steady work or a fading tail) and what the dev server counted meanwhile."""
    text = ""
    if idle.get("halves_cpu_s"):
        text += "; halves: " + " then ".join(f"({_cpu(h)})" for h in idle["halves_cpu_s"])
    server = idle.get("server")
    if server:
        top = ", ".join(f"{c.get('operation', c['metric'])} {c['delta']}" for c in server["counters"][:5])
        gc = f"{server['gc_cycles']} Go GC cycles, heap {server['heap_in_use_mib']} MiB"
        text += f"; the dev server counted {top}; {gc}"
    return text


def targets(figs: Figs, out: Targets) -> None:
    k = figs.get("k")
    if not k or "error" in k or k["n"] < TARGET_N:
        return
    idle, wave = k["idle"], k["wave_result"]
    out.add(
        "k/idle",
        f"idle CPU with {k['n']} cases open, cores (server + worker + PostgreSQL)",
        idle.get("cores"),
        "<=",
        IDLE_CORES,
        f"CPU-s over {idle['seconds']} s with nothing due: {_cpu(idle.get('cpu_s'))}" + _idle_detail(idle),
    )
    replay = wave["replay_latency_ms"]
    out.add(
        "k/wave",
        f"warning wave p95 ({k['wave']} of {k['n']} open cases, evicted) (s)",
        wave["delay_s"]["p95"],
        "<=",
        WAVE_P95_S,
        f"{wave['cache']['misses']:.0f} sticky-cache misses in the wave, each a full replay (SDK replay latency "
        f"mean {fmt(replay['mean'], 1)} ms, p95 {fmt(replay['p95'], 1)} ms over {replay['count']} tasks); CPU-s "
        f"in the wave: {_cpu(wave['cpu_s'])}; {wave['missing']} warnings not seen",
    )
    if k["worker_all_open_over_cache_full"] is not None:
        rss = k["rss_kib"]
        out.add(
            "k/memory",
            "worker RSS all open / cache full (x)",
            k["worker_all_open_over_cache_full"],
            "<=",
            MEMORY_RATIO,
            f"worker RSS {rss['worker_cache_full'] / 1024:.0f} MiB at {k['max_cached_workflows']} cases, "
            f"{rss['worker_all_open'] / 1024:.0f} MiB at {k['n']}: memory beyond the cache's "
            f"{fmt(k['worker_kib_per_cached_case'], 1)} KiB per cached case" + _where(k.get("worker_memory")),
        )


def _where(memory: dict[str, Any] | None) -> str:
    """Where the RSS grew past the full cache (`bench.memory_probe`), in MiB."""
    if not memory:
        return ""
    g = memory["growth"]
    parts = [
        ("malloc in use", "malloc_in_use_kib"),
        ("malloc free", "malloc_free_kib"),
        ("malloc mmapped", "malloc_mmapped_kib"),
        ("Python arenas", "pymalloc_arenas_kib"),
        ("of which Python objects", "pymalloc_in_use_kib"),
        ("elsewhere", "elsewhere_kib"),
    ]
    grew = ", ".join(f"{name} {g[key] / 1024:+.0f}" for name, key in parts if key in g)
    return (
        f"; the growth past the full cache (MiB): {grew}; gc + malloc_trim then gave back "
        f"{memory['trim_returned_kib'] / 1024:.0f} MiB"
    )


def _mib(kib: int | None) -> str:
    return "—" if kib is None else f"{kib / 1024:.0f}"


def rows(t: Table, fig: dict[str, Any]) -> None:
    o, rss, idle, wave = fig["open"], fig["rss_kib"], fig["idle"], fig["wave_result"]
    t.row("(k)", f"time to open {fig['n']} cases (s), concurrency {o['concurrency']}", fmt(o["seconds"], 1))
    t.row(
        "",
        "  opens/s; open latency p50 / p95 (s)",
        f"{fmt(o['per_s'], 1)}; {fmt(o['latency_s']['p50'], 2)} / {fmt(o['latency_s']['p95'], 2)}",
    )
    t.row(
        "",
        "  worker RSS start / cache full / all open (MiB)",
        f"{_mib(rss['worker_start'])} / {_mib(rss['worker_cache_full'])} / {_mib(rss['worker_all_open'])}",
    )
    t.row(
        "", "  dev server RSS start / all open (MiB)", f"{_mib(rss['server_start'])} / {_mib(rss['server_all_open'])}"
    )
    t.row(
        "",
        f"  KiB per cached case (max_cached_workflows {fig['max_cached_workflows']})",
        fmt(fig["worker_kib_per_cached_case"], 1),
    )
    t.row(
        "", "  worker RSS all open / cache full (x)", fmt(fig["worker_all_open_over_cache_full"], 2), *t.v("k/memory")
    )
    offline = fig["replay_offline"]
    if offline.get("n"):
        t.row(
            "",
            f"  replay of a wave case's history p50 / p95 (ms, {offline['history_events']:.0f} events)",
            f"{fmt(offline['ms']['p50'], 1)} / {fmt(offline['ms']['p95'], 1)}",
        )
    t.row("", "  idle CPU (cores): " + " / ".join(idle.get("cpu_s") or {}), fmt(idle.get("cores"), 4), *t.v("k/idle"))
    d, replay = wave["delay_s"], wave["replay_latency_ms"]
    t.row(
        "",
        f"  warning wave p50 / p95 (s), {fig['wave']} cases, {wave['seen']} seen",
        f"{fmt(d['p50'], 2)} / {fmt(d['p95'], 2)}",
        *t.v("k/wave"),
    )
    t.row(
        "",
        "  wave: cache misses; SDK replay latency mean / p95 (ms)",
        f"{wave['cache']['misses']:.0f}; {fmt(replay['mean'], 1)} / {fmt(replay['p95'], 1)}",
    )


FIGURE = Figure(keys=("k",), run=run, rows={"k": rows}, after_workers=True)

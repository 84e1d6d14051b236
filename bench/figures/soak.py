"""Figure `soak`: `--minutes` of a fixed mixed load on a real `recovery api` and `recovery worker`
(`bench.soak`). Selected by name only (`--only soak`): the default run does not include it."""

from __future__ import annotations

from typing import Any

from bench.figures import Context, Figs, Figure, Table, Targets, fmt
from bench.soak import figure_soak


async def run(ctx: Context) -> Figs:
    stack = ctx.stack
    return {"soak": await figure_soak(stack.address, stack.database_url, ctx.tmp, ctx.groups, ctx.args.minutes)}


def _slowest(fig: dict[str, Any]) -> str:
    kinds = {k: v for k, v in fig["api_latency_ms"].items() if k != "all" and v["p95"] is not None}
    worst = sorted(kinds.items(), key=lambda kv: -kv[1]["p95"])[:3]
    cpu = dict(fig["cpu_seconds"])
    busy = cpu.pop("machine_busy", None)
    ours = sum(cpu.values())
    machine = (
        f", {ours:.0f} of the machine's {busy:.0f} busy CPU-s (other processes {busy - ours:.0f}; "
        f"load average at the end {fig.get('load_average_at_end')})"
        if busy is not None
        else ""
    )
    return (
        "slowest kinds at p95: "
        + ", ".join(f"{k} {v['p95']} ms (n={v['n']})" for k, v in worst)
        + "; CPU-s over the soak: "
        + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
        + machine
    )


def targets(figs: Figs, out: Targets) -> None:
    fig = figs.get("soak")
    if not fig or "error" in fig:
        return
    out.add("soak/p95", "soak: API p95 (ms)", fig["value"], "<=", 250, _slowest(fig))
    out.add("soak/errors", "soak: errors", fig["errors"], "<=", 0, "; ".join(fig["error_samples"][:3]))
    for proc in ("api", "worker"):
        r = fig["rss"][proc]
        out.add(
            f"soak/rss-{proc}",
            f"soak: {proc} RSS growth, half-way to end (%)",
            r["growth_pct"],
            "<=",
            10,
            f"{r['at_half_kib']} KiB → {r['at_end_kib']} KiB; open cases {fig['open_cases']['at_half']} → "
            f"{fig['open_cases']['at_end']}",
        )
    conns = fig["pg_connections"]
    out.add(
        "soak/pg-connections",
        "soak: PostgreSQL connections, new high after half-way",
        conns["growth"],
        "<=",
        0,
        f"max {conns['max_first_half']} before half-way, {conns['max_second_half']} after; {_where(conns)}",
    )
    for group, fds in fig["fds"].items():
        out.add(
            f"soak/fds-{group}",
            f"soak: open fds of {group}, new high after half-way (%)",
            fds.get("growth_pct"),
            "<=",
            10,
            f"max {fds['max_first_half']} before half-way, {fds['max_second_half']} after; {_where(fds)}",
        )
    late = fig["deadline_lateness_s"]
    missing = fig["escalations_missing"]
    out.add(
        "soak/late",
        "soak: escalation notice after the deadline, p95 (s)",
        late["p95"] if not missing else None,
        "<=",
        1,
        f"{missing} of {fig['load']['critical_cases']} escalations not seen"
        if missing
        else f"p50 {fmt(late['p50'])} s, max {fmt(late['max'])} s over {late['n']} escalations; {_slowest(fig)}",
    )


def _where(halves: dict[str, Any]) -> str:
    """At each highest sample: the connections each process holds and the fds of each (PostgreSQL: all
    its processes, how many, and per process), so a MISS says whose pool or files grew."""
    parts = []
    for label, top in zip(("before", "after"), halves.get("at_maxima") or [], strict=False):
        if top is None:
            continue
        owners = top.get("pg_connections_by_owner") or {}
        fds, procs = top["fds"], top["postgres_processes"]
        parts.append(
            f"{label} (t={top['t_s']:.0f}s): connections "
            + " ".join(f"{k} {v}" for k, v in owners.items())
            + f", fds api {fds['api']} worker {fds['worker']} postgres {fds['postgres']} in {procs} processes"
            + f" ({fds['postgres'] / max(procs, 1):.1f} each)"
        )
    return "; ".join(parts)


def rows(t: Table, fig: dict[str, Any]) -> None:
    load = fig["load"]
    t.row(
        "soak",
        f"{fig['minutes']:g} min: {load['cases_opened']} cases, {load['requests']} requests, API p95 (ms)",
        fmt(fig["value"], 1),
        *t.v("soak/p95"),
    )
    t.row("", "  errors", str(fig["errors"]), *t.v("soak/errors"))
    for proc in ("api", "worker"):
        r = fig["rss"][proc]
        t.row(
            "",
            f"  {proc} RSS half-way → end (MiB), growth %",
            f"{r['at_half_kib'] / 1024:.0f} → {r['at_end_kib'] / 1024:.0f}, {r['growth_pct']:+.1f}",
            *t.v(f"soak/rss-{proc}"),
        )
    conns = fig["pg_connections"]
    t.row(
        "",
        "  PostgreSQL connections max before / after half-way",
        f"{conns['max_first_half']} / {conns['max_second_half']}",
        *t.v("soak/pg-connections"),
    )
    for group, fds in fig["fds"].items():
        t.row(
            "",
            f"  open fds of {group}, max before / after half-way",
            f"{fds['max_first_half']} / {fds['max_second_half']}",
            *t.v(f"soak/fds-{group}"),
        )
    late = fig["deadline_lateness_s"]
    t.row(
        "",
        f"  escalation lateness p50 / p95 (s), n={late['n']}",
        f"{fmt(late['p50'])} / {fmt(late['p95'])}",
        *t.v("soak/late"),
    )
    t.row(
        "",
        "  steps / repeat contacts / console pages / stream events",
        f"{load['steps']}/{load['repeat_contacts']}/{load['console_pages']}/{load['stream_events']}",
    )


FIGURE = Figure(keys=("soak",), run=run, rows={"soak": rows}, after_workers=True)

"""Figure (l): the console, the API, the SLA report and the policy simulator over N cases in the read
model (default 100,000), seeded through the projection."""

from __future__ import annotations

import uuid
from typing import Any

from bench.figures import Context, Figs, Figure, Table, Targets, fmt
from bench.read_model_timing import figure_l

TARGET_CASES = 100_000
"""The targets are set at this N and above; a smaller N (--quick) is reported without them."""


async def run(ctx: Context) -> Figs:
    args = ctx.args
    result = await figure_l(
        ctx.stack.database_url,
        ctx.stack.client,
        args.read_model_cases,
        args.read_model_concurrency,
        args.read_model_case_events,
        uuid.uuid4().hex[:6],
    )
    return {"l": result}


def _why(timing: dict[str, Any]) -> str:
    """What the request's SQL did under EXPLAIN ANALYZE (its time beside the request's p50: the rest is the
    app's Python and the machine), the slowest statement, indexes, seq scans."""
    plan = timing["plan"]
    p50 = timing["ms"]["p50"] if "ms" in timing else None
    return (
        (f"p50 {p50} ms; " if p50 is not None else "")
        + f"{plan['statements']} statements, {plan['sql_ms']} ms of SQL under EXPLAIN ANALYZE (slowest "
        f"{plan['slowest']}); indexes {', '.join(plan['indexes']) or 'none'}; "
        f"seq scans {', '.join(plan['seq_scans']) or 'none'}"
    )


def targets(figs: Figs, out: Targets) -> None:
    l_ = figs.get("l")
    if not l_ or "error" in l_ or l_["cases"] < TARGET_CASES:
        return
    n = l_["cases"]
    worst = l_["queue"][l_["queue_worst"]]
    out.add(
        "l/queue",
        f"console queue, every tab and filter, {n} cases: slowest p95 (ms)",
        worst["p95_ms"],
        "<=",
        150,
        f"{l_['queue_worst']} ({worst['path']}): {_why(worst)}",
    )
    page = l_["case_page"]
    out.add(
        "l/case",
        f"console case page, {l_['case_events']} events, p95 (ms)",
        page["p95_ms"],
        "<=",
        100,
        f"{page['bytes']} bytes of HTML; {_why(page)}",
    )
    listing = l_["list"][l_["list_worst"]]
    out.add(
        "l/list",
        "GET /v1/complaints paging and filters: slowest p95 (ms)",
        listing["p95_ms"],
        "<=",
        100,
        f"{l_['list_worst']} ({listing['path']}): {_why(listing)}",
    )
    sla = l_["sla"]
    out.add(
        "l/sla",
        f"GET /v1/reports/sla over all {n} cases, p95 (s)",
        round(sla["p95_ms"] / 1000, 3),
        "<=",
        2.0,
        _why(sla),
    )
    sim = l_["simulation"]
    out.add(
        "l/sim",
        f"policy simulator over {sim['cases']} stored cases (s)",
        sim["s"],
        "<=",
        60.0,
        f"read {sim['read_s']} s, replay {sim['simulate_s']} s on 2 processes; {_why(sim)}",
    )


def rows(t: Table, fig: dict[str, Any]) -> None:
    seeding = fig["seeding"]
    t.row(
        "(l)", f"read model, {fig['cases']} cases: slowest queue page p95 (ms)", fmt(fig["value"], 1), *t.v("l/queue")
    )
    t.row("", "  seeding through the projection (s), cases/s", f"{seeding['seed_s']}, {seeding['cases_per_s']}")
    for name, q in fig["queue"].items():
        t.row("", f"  queue {name} p50 / p95 (ms)", f"{fmt(q['ms']['p50'], 1)} / {fmt(q['p95_ms'], 1)}")
    page = fig["case_page"]
    t.row("", f"  case page, {fig['case_events']} events, p95 (ms)", fmt(page["p95_ms"], 1), *t.v("l/case"))
    t.row("", "  GET /v1/complaints/{case}, same case, p95 (ms)", fmt(fig["api_case"]["p95_ms"], 1))
    pages = {k: v for k, v in fig["list"].items() if isinstance(v, dict)}
    for name, q in pages.items():
        target = t.v("l/list") if name == fig["list_worst"] else ("", "")
        t.row("", f"  GET /v1/complaints {name} p95 (ms)", fmt(q["p95_ms"], 1), *target)
    t.row("", "  GET /v1/reports/sla, all cases, p95 (s)", fmt(fig["sla"]["p95_ms"] / 1000, 3), *t.v("l/sla"))
    sim = fig["simulation"]
    t.row("", f"  policy simulator, {sim['cases']} cases (s)", fmt(sim["s"], 2), *t.v("l/sim"))
    t.row("", "  indexes used", ", ".join(fig["indexes"])[:60] or "none")
    t.row("", "  seq scans", ", ".join(fig["seq_scans"])[:60] or "none")


FIGURE = Figure(keys=("l",), run=run, rows={"l": rows}, after_workers=True)

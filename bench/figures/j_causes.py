"""Figure (j): the causes report over N closed cases (default 100,000) seeded through the projection."""

from __future__ import annotations

import uuid
from typing import Any

from bench.causes import figure_j
from bench.figures import Context, Figs, Figure, Table, Targets, fmt

TARGET_CASES = 100_000
"""The target (≤ 2 s) is set at this N and above; a smaller N (--quick) is reported without one."""


async def run(ctx: Context) -> Figs:
    args = ctx.args
    return {"j": await figure_j(ctx.stack.pool, args.causes_cases, args.causes_concurrency, uuid.uuid4().hex[:6])}


def _slowest(j: dict[str, Any]) -> str:
    ranked = sorted(j["queries"].items(), key=lambda kv: -kv[1]["execution_ms"])
    return "; ".join(
        f"{name} {q['execution_ms']:.0f} ms (indexes {', '.join(q['indexes']) or 'none'}; "
        f"seq scans {', '.join(q['seq_scans']) or 'none'})"
        for name, q in ranked[:3]
    )


def targets(figs: Figs, out: Targets) -> None:
    j = figs.get("j")
    if j and "error" not in j and j["cases"] >= TARGET_CASES:
        out.add(
            "j",
            f"causes report over {j['cases']} closed cases p95 (s)",
            j["value"],
            "<=",
            2.0,
            f"six queries in one repeatable-read transaction over {j['report_cases']} cases; the slowest under "
            f"EXPLAIN ANALYZE: {_slowest(j)}",
        )


def rows(t: Table, fig: dict[str, Any]) -> None:
    s = fig["report_s"]
    t.row(
        "(j)",
        f"causes report, {fig['cases']} closed cases, p50 / p95 (s)",
        f"{fmt(s['p50'], 2)} / {fmt(fig['value'], 2)}",
        *t.v("j"),
    )
    seeding = fig["seeding"]
    t.row("", "  seeding through the projection (s), cases/s", f"{seeding['seed_s']}, {seeding['cases_per_s']}")
    ranked = sorted(fig["queries"].items(), key=lambda kv: -kv[1]["execution_ms"])
    slowest = ", ".join(f"{n} {q['execution_ms']:.0f}" for n, q in ranked[:2])
    t.row("", "  slowest queries (EXPLAIN ANALYZE, ms)", slowest)
    t.row("", "  indexes used", ", ".join(fig["indexes"]) or "none")


FIGURE = Figure(keys=("j",), run=run, rows={"j": rows}, after_workers=True)

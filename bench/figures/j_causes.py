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


def _ms(q: dict[str, Any]) -> float:
    """A query's EXPLAIN ANALYZE time; for one cut at the statement timeout, that timeout (a lower bound)."""
    return float(q["execution_ms"] if q["execution_ms"] is not None else q["over_ms"])


def _shown(q: dict[str, Any]) -> str:
    return f"{_ms(q):.0f}" if q["analyzed"] else f"> {_ms(q):.0f}"


def _ranked(j: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return sorted(j["queries"].items(), key=lambda kv: -_ms(kv[1]))


def rescans(node: dict[str, Any] | None, in_subplan: bool = False) -> list[str]:
    """CTE scans under a SubPlan in a stored plan: a materialized CTE read again for every outer row."""
    if node is None:
        return []
    inside = in_subplan or node.get("Parent Relationship") == "SubPlan"
    cte = inside and node["Node Type"] == "CTE Scan"
    found = [f"CTE Scan on {node.get('CTE Name')} inside a SubPlan"] if cte else []
    return found + [x for child in node.get("Plans", []) for x in rescans(child, inside)]


def _slowest(j: dict[str, Any]) -> str:
    return "; ".join(
        f"{name} {_shown(q)} ms (indexes {', '.join(q['indexes']) or 'none'}; "
        f"seq scans {', '.join(q['seq_scans']) or 'none'}"
        + "".join(f"; {x}, once per outer row" for x in sorted(set(rescans(q.get("plan")))))
        + ")"
        for name, q in _ranked(j)[:3]
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
            f"{len(j['queries'])} queries, then the prevention actions, in one repeatable-read transaction over "
            f"{j['report_cases']} cases; the slowest under EXPLAIN ANALYZE: {_slowest(j)}",
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
    slowest = ", ".join(f"{n} {_shown(q)}" for n, q in _ranked(fig)[:2])
    t.row("", "  slowest queries (EXPLAIN ANALYZE, ms)", slowest)
    t.row("", "  indexes used", ", ".join(fig["indexes"]) or "none")


FIGURE = Figure(keys=("j",), run=run, rows={"j": rows}, after_workers=True)

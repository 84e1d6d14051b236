"""The reports page's pictures: server-rendered SVG from the SLA report and the read model, so no
charting library (and no asset) is needed in the browser. Each chart comes with its numbers as a
table for screen readers and for people who want the figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import escape

import asyncpg

from recovery.reports import SEVERITIES, STEPS, sla_report

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
SEVERITY_COLOURS = {"critical": "#D55E00", "high": "#E69F00", "normal": "#0072B2", "low": "#009E73"}
BAR = "#0072B2"

ACK_BUCKETS = [
    (60, "< 1 min"),
    (300, "1–5 min"),
    (900, "5–15 min"),
    (3600, "15–60 min"),
    (4 * 3600, "1–4 h"),
    (24 * 3600, "4–24 h"),
    (None, "> 1 day"),
]


@dataclass
class Chart:
    title: str
    caption: str
    svg: str
    table: list[tuple[str, str]]
    empty: bool = False


def _bars(rows: list[tuple[str, float, str, str]], max_value: float, label: str) -> str:
    """Horizontal bars: (label, value, value text, colour) each; scales to the page width."""
    row_h, left, width = 30, 210, 480
    height = row_h * len(rows) + 10
    parts = [
        f'<svg viewBox="0 0 {left + width + 150} {height}" role="img" aria-label="{escape(label)}" '
        f'class="chart" preserveAspectRatio="xMinYMin meet">'
    ]
    for i, (name, value, text, colour) in enumerate(rows):
        y = 5 + i * row_h
        w = 0 if max_value <= 0 else max(value / max_value * width, 2 if value > 0 else 0)
        parts.append(f'<text x="{left - 8}" y="{y + 18}" text-anchor="end" class="axis">{escape(name)}</text>')
        parts.append(f'<rect x="{left}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" fill="{colour}" rx="2"/>')
        parts.append(f'<text x="{left + w + 6:.1f}" y="{y + 18}" class="value">{escape(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


async def report_charts(pool: asyncpg.Pool, clock) -> list[Chart]:
    report = await sla_report(pool)
    charts: list[Chart] = []

    # 1. SLA attainment per step and severity (steps with completed rounds only).
    rows, table = [], []
    for step in STEPS:
        for severity in SEVERITIES:
            found = next((s for s in report.steps if s.step == step and s.severity == severity), None)
            if found is None or found.attainment_pct is None:
                continue
            name = f"{step.replace('_', ' ')} · {severity}"
            text = f"{found.attainment_pct:.1f}% of {found.completed}"
            rows.append((name, found.attainment_pct, text, SEVERITY_COLOURS[severity]))
            table.append((name, text))
    charts.append(
        Chart(
            "SLA attainment per step and severity",
            "Share of completed steps done before their deadline (100% is every one on time).",
            _bars(rows, 100, "SLA attainment per step and severity"),
            table,
            not rows,
        )
    )

    # 2. Time to acknowledge, as a distribution.
    seconds = [
        r["s"]
        for r in await pool.fetch(
            "SELECT extract(epoch FROM acknowledged_at - opened_at)::float8 AS s FROM cases "
            "WHERE acknowledged_at IS NOT NULL"
        )
    ]
    counts = [0] * len(ACK_BUCKETS)
    for value in seconds:
        index = next(i for i, (limit, _) in enumerate(ACK_BUCKETS) if limit is None or value < limit)
        counts[index] += 1
    rows = [(label, float(n), str(n), BAR) for (_, label), n in zip(ACK_BUCKETS, counts, strict=True)]
    charts.append(
        Chart(
            "Time to acknowledge",
            f"Cases by how long the first answer took ({len(seconds)} acknowledged).",
            _bars(rows, max(counts, default=0), "Time to acknowledge distribution"),
            [(label, str(n)) for (_, label), n in zip(ACK_BUCKETS, counts, strict=True)],
            not seconds,
        )
    )

    # 3. Escalations per day, the last 14 days in the agent's zone.
    zone = clock.zone_name
    today = datetime.now(UTC).astimezone(clock.zone).date()
    days = [today - timedelta(days=n) for n in range(13, -1, -1)]
    per_day = {
        r["day"]: r["n"]
        for r in await pool.fetch(
            "SELECT (at AT TIME ZONE $1)::date AS day, count(*) AS n FROM events WHERE type = 'escalated' "
            "AND at > now() - interval '15 days' GROUP BY 1",
            zone,
        )
    }
    rows = [(d.strftime("%a %d %b"), float(per_day.get(d, 0)), str(per_day.get(d, 0)), "#CC79A7") for d in days]
    charts.append(
        Chart(
            "Escalations per day",
            f"The last 14 days, by day in {zone}.",
            _bars(rows, max((r[1] for r in rows), default=0), "Escalations per day"),
            [(r[0], r[2]) for r in rows],
            not per_day,
        )
    )

    # 4. Compensation by root cause (per currency).
    rows, table = [], []
    entries = [c for c in report.compensation_by_root_cause if c.amount is not None and c.currency]
    top = max((float(c.amount or Decimal(0)) for c in entries), default=0.0)
    for c in entries:
        name = f"{c.root_cause.replace('-', ' ')} ({c.currency})"
        text = f"{c.amount} {c.currency} · {c.count}×"
        rows.append((name, float(c.amount or 0), text, "#009E73"))
        table.append((name, text))
    charts.append(
        Chart(
            "Compensation by root cause",
            "Money granted, by the root cause the case closed with (“open” for cases not closed yet).",
            _bars(rows, top, "Compensation by root cause"),
            table,
            not rows,
        )
    )
    return charts

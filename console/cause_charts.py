"""The causes page's pictures (`/reports/causes`): server-rendered SVG from the causes report
(`recovery.causes`), each shown beside the table of its numbers, so nothing is drawn in the browser
and the figures are there for screen readers and for copying."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from html import escape

from console.charts import _bars
from recovery.causes import CausesReport
from recovery.report_text import MISSING, format_duration

# Okabe-Ito colours (distinguishable with the common colour-vision deficiencies); the eighth is "other".
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#777777"]
BAR = "#0072B2"
OTHER = "other"


@dataclass
class CauseChart:
    title: str
    caption: str
    svg: str
    headers: list[str]
    rows: list[list[str]]
    empty: bool = False


def _pct(value: float | None) -> str:
    return MISSING if value is None else f"{value * 100:.1f}%"


def _signed(value: int) -> str:
    return f"+{value}" if value > 0 else str(value)


def _number(value: float | None) -> str:
    return MISSING if value is None else f"{value:.2f}"


def _scaled(amount: Decimal, top: Decimal) -> float:
    return float(amount / top * 100) if top else 0.0


def _label(cause: str) -> str:
    return cause.replace("-", " ").replace("_", " ")


def _columns(weeks: list[str], series: list[tuple[str, list[int], str]], label: str) -> str:
    """Stacked columns, one per week, one colour per series (name, count per week, colour), and a legend."""
    left, top, plot_h, col_w, gap = 40, 24, 220, 44, 12
    width = left + len(weeks) * (col_w + gap) + 10
    legend_y = top + plot_h + 50
    height = legend_y + 24 * ((len(series) + 2) // 3) + 6
    totals = [sum(counts[i] for _, counts, _ in series) for i in range(len(weeks))]
    peak = max(totals, default=0) or 1
    parts = [
        f'<svg viewBox="0 0 {max(width, 620)} {height}" role="img" aria-label="{escape(label)}" '
        f'class="chart" preserveAspectRatio="xMinYMin meet">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" stroke="#8c959f"/>',
        f'<text x="{left - 6}" y="{top + 12}" text-anchor="end" class="value">{peak}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" class="value">0</text>',
    ]
    for i, week in enumerate(weeks):
        x = left + gap / 2 + i * (col_w + gap)
        mid = x + col_w / 2
        y = float(top + plot_h)
        for name, counts, colour in series:
            if counts[i]:
                h = counts[i] / peak * plot_h
                y -= h
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{col_w}" height="{h:.1f}" fill="{colour}">'
                    f"<title>{escape(_label(name))}: {counts[i]} in the week of {escape(week)}</title></rect>"
                )
        if totals[i]:
            parts.append(f'<text x="{mid:.1f}" y="{y - 4:.1f}" text-anchor="middle" class="value">{totals[i]}</text>')
        parts.append(
            f'<text x="{mid:.1f}" y="{top + plot_h + 20}" text-anchor="middle" class="value">{escape(week[5:])}</text>'
        )
    for n, (name, _, colour) in enumerate(series):
        x, y = left + (n % 3) * 200, legend_y + 24 * (n // 3)
        parts.append(f'<rect x="{x}" y="{y - 12}" width="14" height="14" fill="{colour}"/>')
        parts.append(f'<text x="{x + 20}" y="{y}" class="axis">{escape(_label(name))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def cause_charts(report: CausesReport) -> list[CauseChart]:
    causes = report.causes
    closed = [c for c in causes if c.cases]
    charts: list[CauseChart] = []

    # 1. Cases per root cause, against the period before.
    rows = [(_label(c.cause), float(c.cases), f"{c.cases} · {_pct(c.share)}", BAR) for c in causes]
    charts.append(
        CauseChart(
            "Cases per root cause",
            "Cases closed in the window by the root cause they closed with, and the change against the "
            "period of the same length before.",
            _bars(rows, max((r[1] for r in rows), default=0), "Cases per root cause"),
            ["root cause", "cases", "share", "before", "change"],
            [
                [c.cause, str(c.cases), _pct(c.share), str(c.trend.previous_cases), _signed(c.trend.change)]
                for c in causes
            ],
            not causes,
        )
    )

    # 2. Closes per week, stacked by cause (the seven largest in the series; the rest as "other").
    mondays = sorted({w.week_start for w in report.weeks})
    counts: dict[str, list[int]] = {}
    for w in report.weeks:
        counts.setdefault(w.cause, [0] * len(mondays))[mondays.index(w.week_start)] += w.cases
    ranked = sorted(counts, key=lambda cause: (-sum(counts[cause]), cause))
    shown = ranked if len(ranked) <= len(PALETTE) else ranked[: len(PALETTE) - 1]
    series = [(cause, counts[cause], PALETTE[i]) for i, cause in enumerate(shown)]
    if len(shown) < len(ranked):
        rest = [sum(counts[cause][i] for cause in ranked[len(shown) :]) for i in range(len(mondays))]
        series.append((OTHER, rest, PALETTE[-1]))
    weeks = [m.isoformat() for m in mondays]
    charts.append(
        CauseChart(
            "Cases closed per week",
            "Weeks from Monday (UTC), by root cause.",
            _columns(weeks, series, "Cases closed per week by root cause"),
            ["week", *(name for name, _, _ in series)],
            [[week, *(str(s[1][i]) for s in series)] for i, week in enumerate(weeks)],
            not any(w.cases for w in report.weeks),
        )
    )

    # 3. Handling time.
    rows = [
        (_label(c.cause), c.median_handling_s or 0.0, format_duration(c.median_handling_s), "#CC79A7") for c in closed
    ]
    charts.append(
        CauseChart(
            "Median handling time",
            "From opening to closing; agent steps: the time acknowledge, fix, compensate and close took, "
            "without the follow-up wait and time paused.",
            _bars(rows, max((r[1] for r in rows), default=0), "Median handling time per root cause"),
            ["root cause", "handling", "agent steps"],
            [[c.cause, format_duration(c.median_handling_s), format_duration(c.median_agent_step_s)] for c in closed],
            not closed,
        )
    )

    # 4. Customer satisfaction: the bars are the customers' own answers; agents' scores only beside them.
    scored = [c for c in closed if c.customer_csat.n]
    rows = [
        (_label(c.cause), c.customer_csat.mean or 0.0, f"{c.customer_csat.mean:.2f} of {c.customer_csat.n}", "#009E73")
        for c in scored
    ]
    charts.append(
        CauseChart(
            "Customer satisfaction (CSAT)",
            "Mean follow-up score, 1 to 5, of the customers' own answers from their case page; the scores "
            "agents entered are counted apart, and all scores together.",
            _bars(rows, 5, "Mean of the customers' own CSAT per root cause"),
            ["root cause", "customers' answers", "mean", "agents' scores", "mean", "all scores", "mean"],
            [
                [
                    c.cause,
                    *(
                        cell
                        for csat in (c.customer_csat, c.agent_csat, c.csat)
                        for cell in (str(csat.n), MISSING if csat.mean is None else f"{csat.mean:.2f}")
                    ),
                ]
                for c in closed
            ],
            not any(c.csat.n for c in closed),
        )
    )

    # 5. Reopenings (with repeat contacts and breaches in the table).
    rows = [(_label(c.cause), (c.reopen_rate or 0.0) * 100, _pct(c.reopen_rate), "#D55E00") for c in closed]
    charts.append(
        CauseChart(
            "Reopened cases",
            "Share of the cause's cases the customer reopened at follow-up.",
            _bars(rows, 100, "Reopen rate per root cause"),
            ["root cause", "reopened", "repeat contacts / case", "breaches"],
            [
                [
                    c.cause,
                    _pct(c.reopen_rate),
                    MISSING if c.repeat_contacts_per_case is None else f"{c.repeat_contacts_per_case:.2f}",
                    str(c.breaches),
                ]
                for c in closed
            ],
            not closed,
        )
    )

    # 6. Compensation, each currency on its own scale.
    entries = [(c.cause, currency, amount) for c in closed for currency, amount in sorted(c.compensation.items())]
    top: dict[str, Decimal] = {}
    for _, currency, amount in entries:
        top[currency] = max(top.get(currency, Decimal(0)), amount)
    rows = [
        (
            f"{_label(cause)} ({currency})",
            float(amount / top[currency] * 100) if top[currency] else 0.0,
            f"{amount} {currency}",
            "#E69F00",
        )
        for cause, currency, amount in entries
    ]
    charts.append(
        CauseChart(
            "Compensation granted",
            "Money granted per root cause and currency (each currency on its own scale).",
            _bars(rows, 100, "Compensation per root cause and currency"),
            ["root cause", "currency", "amount"],
            [[cause, currency, str(amount)] for cause, currency, amount in entries],
            not entries,
        )
    )
    return charts

"""The simulation report as text for the terminal (`recovery policy simulate`, the bench).

Apart from the report model because it is presentation only: it reads a finished `SimulationReport`
and nothing else, and its layout can change without touching how the figures are made.
"""

from __future__ import annotations

from workflows.simulation.history import _iso
from workflows.simulation.report import SimulationReport


def format_simulation(report: SimulationReport) -> str:
    """The report as text for the terminal (deterministic: no clocks, fixed order)."""
    window = "all stored cases"
    if report.since or report.until:
        window = (
            "cases opened"
            + (f" from {_iso(report.since)}" if report.since else "")
            + (f" before {_iso(report.until)}" if report.until else "")
        )
    t = report.totals
    lines = [
        f"policy simulation: candidate {report.candidate}, {window}",
        f"  cases: {t.cases}   breaches: {t.actual_breaches} as recorded → {t.candidate_breaches} "
        f"under the candidate   cases with another outcome: {t.changed}",
        "",
    ]
    header = (
        f"  {'severity':<9} {'step':<11} {'completed':>9} {'attainment':>16} {'breaches':>10} {'warnings':>10}"
        "  escalations by level"
    )
    lines.append(header)
    for row in report.steps:
        a, c = row.actual, row.candidate
        lines.append(
            f"  {row.severity:<9} {row.step:<11} {_pair(a.completed, c.completed):>9} "
            f"{_pair(_pct(a.attainment_pct), _pct(c.attainment_pct)):>16} {_pair(a.breaches, c.breaches):>10} "
            f"{_pair(a.warnings, c.warnings):>10}  {_levels(a.escalations)} → {_levels(c.escalations)}"
        )
    lines.append("  (each figure: as recorded → under the candidate)")
    if report.changed:
        lines += ["", "cases that would change outcome:"]
        for case in report.changed:
            lines.append(f"  {case.case_id}")
            lines.extend(f"    - {reason}" for reason in case.why)
    if report.skipped:
        lines += ["", "not replayed:"]
        lines.extend(f"  {reason}" for reason in report.skipped)
    return "\n".join(lines)


def _pair(a: object, b: object) -> str:
    return str(a) if a == b else f"{a}→{b}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _levels(escalations: dict[str, int]) -> str:
    return ", ".join(f"L{level}:{count}" for level, count in escalations.items()) or "none"

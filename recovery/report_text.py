"""The SLA report (`recovery.reports.SlaReport`) and the causes report (`recovery.causes.CausesReport`)
as fixed-width text tables, for `recovery report` and `recovery report causes`."""

from __future__ import annotations

from recovery.causes import CausesReport
from recovery.csat import CsatReport, CustomerFigures
from recovery.reports import SlaReport

MISSING = "-"


def format_duration(seconds: float | None) -> str:
    """`45s`, `12m 05s`, `1h 05m`, `2d 3h` (two units, the smaller one truncated); `-` for none."""
    if seconds is None:
        return MISSING
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def format_pct(value: float | None) -> str:
    return MISSING if value is None else f"{value:.1f}%"


def _text(value: object) -> str:
    return MISSING if value is None else str(value)


def _table(headers: list[str], rows: list[list[str]], *, right_from: int) -> list[str]:
    """Fixed-width columns; columns from index `right_from` on are right-aligned (numbers)."""
    if not rows:
        return ["  (none)"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return (
            "  "
            + "  ".join(
                c.rjust(w) if i >= right_from else c.ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()
        )

    return [line(headers), "  " + "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def _window(report: SlaReport) -> str:
    if report.since is None and report.until is None:
        return "all cases"
    since = report.since.isoformat() if report.since else "the beginning"
    until = report.until.isoformat() if report.until else "now"
    return f"cases opened from {since} until {until}"


def format_report(report: SlaReport) -> str:
    """The report as fixed-width text tables (`recovery report`)."""
    t, rc = report.totals, report.repeat_contacts
    out = [f"SLA report: {_window(report)}", ""]

    out += ["Totals"]
    out += _table(
        ["cases", "open", "closed", "breaches", "repeat contacts"],
        [
            [
                str(t.cases),
                str(t.open),
                str(t.closed),
                str(t.breaches),
                f"{rc.repeat_cases}/{rc.cases} ({format_pct(rc.pct)})",
            ]
        ],
        right_from=0,
    )

    out += ["", "Step attainment"]
    out += _table(
        ["severity", "step", "cases", "completed", "breaches", "attainment"],
        [
            [s.severity, s.step, str(s.cases), str(s.completed), str(s.breaches), format_pct(s.attainment_pct)]
            for s in report.steps
        ],
        right_from=2,
    )

    out += ["", "Time from opening (p50 / p95)"]
    out += _table(
        ["severity", "cases", "ack p50", "ack p95", "fix p50", "fix p95", "close p50", "close p95"],
        [
            [
                s.severity,
                str(s.cases),
                format_duration(s.acknowledge.p50_seconds),
                format_duration(s.acknowledge.p95_seconds),
                format_duration(s.fix.p50_seconds),
                format_duration(s.fix.p95_seconds),
                format_duration(s.close.p50_seconds),
                format_duration(s.close.p95_seconds),
            ]
            for s in report.times
        ],
        right_from=1,
    )

    out += ["", "Escalations by level"]
    out += _table(["level", "escalations"], [[str(e.level), str(e.count)] for e in report.escalations], right_from=0)

    out += ["", "Compensation by kind"]
    out += _table(
        ["kind", "currency", "count", "amount"],
        [[c.kind, _text(c.currency), str(c.count), _text(c.amount)] for c in report.compensation_by_kind],
        right_from=2,
    )

    out += ["", "Compensation by root cause"]
    out += _table(
        ["root cause", "currency", "count", "amount"],
        [[c.root_cause, _text(c.currency), str(c.count), _text(c.amount)] for c in report.compensation_by_root_cause],
        right_from=2,
    )

    out += ["", "Top root causes"]
    out += _table(["root cause", "cases"], [[r.root_cause, str(r.cases)] for r in report.top_root_causes], right_from=1)
    out += ["", *format_csat(report.csat)]
    return "\n".join(out) + "\n"


def _mean(value: float | None) -> str:
    return MISSING if value is None else f"{value:.2f}"


def _csat_cells(f: CustomerFigures) -> list[str]:
    return [str(f.asked), str(f.answered), format_pct(f.response_rate_pct), str(f.n), _mean(f.mean)]


def format_csat(csat: CsatReport) -> list[str]:
    """The CSAT section's lines: the customers' own answers, then, apart, the agents' scores."""
    c, a = csat.customers, csat.agent_entered
    headers = ["asked", "answered", "response rate", "scores", "mean"]
    out = ["Customers' own CSAT (answers from the case page)"]
    out += _table(headers, [_csat_cells(c)], right_from=0)
    out += ["", "Customers' own CSAT by severity"]
    out += _table(["severity", *headers], [[r.severity, *_csat_cells(r)] for r in c.by_severity], right_from=1)
    out += ["", "Customers' own CSAT by root cause"]
    out += _table(["root cause", *headers], [[r.root_cause, *_csat_cells(r)] for r in c.by_root_cause], right_from=1)
    out += ["", "Scores entered by agents (not the customers' own)"]
    out += _table(["scores", "mean"], [[str(a.n), _mean(a.mean)]], right_from=0)
    return out


def _signed(value: int) -> str:
    return f"+{value}" if value > 0 else str(value)


def _fraction_pct(value: float | None) -> str:
    return MISSING if value is None else f"{value * 100:.1f}%"


def format_causes(report: CausesReport) -> str:
    """The causes report as fixed-width text tables (`recovery report causes`)."""
    out = [f"Causes report: cases closed from {report.since.isoformat()} until {report.until.isoformat()}", ""]
    out += ["Root causes (trend: against the period of the same length before)"]
    out += _table(
        [
            "root cause",
            "cases",
            "share",
            "before",
            "change",
            "repeat/case",
            "reopened",
            "median handling",
            "agent steps",
            "csat n",
            "csat mean",
            "customers' n",
            "customers' mean",
            "agents' n",
            "agents' mean",
            "breaches",
            "compensation",
        ],
        [
            [
                c.cause,
                str(c.cases),
                _fraction_pct(c.share),
                str(c.trend.previous_cases),
                _signed(c.trend.change),
                _text(c.repeat_contacts_per_case),
                _fraction_pct(c.reopen_rate),
                format_duration(c.median_handling_s),
                format_duration(c.median_agent_step_s),
                *(
                    cell
                    for csat in (c.csat, c.customer_csat, c.agent_csat)
                    for cell in (str(csat.n), MISSING if csat.mean is None else f"{csat.mean:.2f}")
                ),
                str(c.breaches),
                ", ".join(f"{amount} {currency}" for currency, amount in c.compensation.items()) or MISSING,
            ]
            for c in report.causes
        ],
        right_from=1,
    )
    causes = sorted({w.cause for w in report.weeks})
    counts = {(w.week_start, w.cause): w.cases for w in report.weeks}
    mondays = sorted({w.week_start for w in report.weeks})
    out += ["", "Cases closed per week (weeks from Monday, UTC)"]
    out += _table(
        ["week", *causes],
        [[monday.isoformat(), *(str(counts[(monday, cause)]) for cause in causes)] for monday in mondays],
        right_from=1,
    )
    return "\n".join(out) + "\n"

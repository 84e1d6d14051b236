"""Policy commands: check a policy (or policy set), ask when a budget is due, list a calendar's
working windows, explain which rule a ticket matches, and simulate a candidate over stored cases."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from starter.cli.common import UsageError
from workflows.calendars import Calendar
from workflows.durations import format_duration, parse_duration
from workflows.models import TicketEvent
from workflows.policy import BusinessCalendar, Policy, Severity, Step
from workflows.policy_files import load_policy
from workflows.rules import PolicySet, load_policy_set


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def instant(text: str) -> datetime:
    """An ISO 8601 instant; one without a zone is refused (a due time depends on it)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 instant (e.g. 2026-11-23T09:30:00+01:00)"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone: add one (Z, +01:00, ...)")
    return moment


def day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (e.g. 2026-12-24)") from None


def moment(text: str) -> datetime:
    """A date or date-time; without a zone it is UTC (for --since/--until)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date or time (e.g. 2026-11-01)") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def duration(text: str) -> float:
    try:
        return parse_duration(text).total_seconds()
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


# ---- check -----------------------------------------------------------------------------------------


def _calendar_line(name: str, calendar: BusinessCalendar | Calendar) -> str:
    if isinstance(calendar, BusinessCalendar):
        hours = "-".join(t.strftime("%H:%M") for t in calendar.working_hours)
        return (
            f"  calendar {name}: {calendar.time_zone}, {hours} on {', '.join(calendar.working_days)}, "
            f"{len(calendar.holidays)} holidays"
        )
    week = "; ".join(f"{d} {' '.join(str(w) for w in ws)}" for d, ws in calendar.week.items() if ws)
    extra = f", {len(calendar.holidays) + len(calendar.file_holidays)} holidays"
    if calendar.holiday_files:
        extra += f" (files: {', '.join(calendar.holiday_files)})"
    if calendar.special_days:
        extra += f", {len(calendar.special_days)} special days"
    return f"  calendar {name}: {calendar.time_zone}, {week}{extra}"


def _summary(policy: Policy) -> list[str]:
    lines = []
    for severity, d in policy.severities.items():
        j = d.model_dump(mode="json")
        clock = f"business: {d.calendar or 'default'}" if d.clock == "business" else "wall"
        pause = f", max pause {j['max_pause']}" if d.max_pause is not None else ""
        lines.append(
            f"  {severity.value:<8} [{clock}] acknowledge {j['acknowledge']}, fix {j['fix']}, "
            f"compensate {j['compensate']}, follow-up {j['follow_up']}, close {j['close']}{pause}"
        )
    lines.append(f"  ladder: {' → '.join(policy.escalation.ladder)}")
    notes = policy.notifications
    overridden = sorted(f"{channel}.{name}" for channel, table in notes.overrides.items() for name in table)
    lines.append(
        f"  customer messages: {notes.channel}"
        + (f"; templates overridden: {', '.join(overridden)}" if overridden else "")
    )
    lines.append(_calendar_line("default", policy.calendar))
    lines.extend(_calendar_line(name, cal) for name, cal in sorted(policy.calendars.items()))
    return lines


def cmd_policy_check(args: argparse.Namespace) -> int:
    policies = load_policy_set(args.file)
    if len(policies.policies) == 1 and policies.rules[0].name == "single policy":
        policy = policies.primary
        print(f"policy {policy.name}@{policy.version}: ok")
        print("\n".join(_summary(policy)))
        return 0
    print(f"policy set {policies.source}: ok ({len(policies.policies)} policies, {len(policies.rules)} rules)")
    for position, rule in enumerate(policies.rules, start=1):
        conditions = {
            k: v for k, v in rule.model_dump(mode="json", exclude_none=True).items() if k not in ("name", "policy")
        }
        when = ", ".join(f"{k} {v}" for k, v in conditions.items()) or "every ticket"
        print(f"  {position}. {rule.name} → {rule.policy} (when {when})")
    if policies.default:
        print(f"  otherwise → {policies.default}")
    for name, policy in sorted(policies.policies.items()):
        print(f"policy {name} ({policy.name}@{policy.version}):")
        print("\n".join("  " + line for line in _summary(policy)))
    return 0


# ---- due and calendar ---------------------------------------------------------------------------------


def _single(file: str | None) -> Policy:
    return load_policy(file)


def cmd_policy_due(args: argparse.Namespace) -> int:
    policy = _single(args.file)
    if args.severity is not None:
        severity = Severity(args.severity)
        deadlines = policy.deadlines(severity)
        name = (deadlines.calendar or "default") if deadlines.clock == "business" else "wall"
        clock = policy.clock(severity)
    else:
        calendar = policy.calendar_named(args.calendar)
        name = args.calendar or "default"
        from workflows.policy import Clock

        clock = Clock(calendar)
    due = clock.add(args.start, args.budget)
    if args.json:
        seconds = int(args.budget) if float(args.budget).is_integer() else args.budget
        print(json.dumps({"due": _utc(due), "calendar": name, "working_seconds": seconds}))
    else:
        print(_utc(due))
    return 0


def cmd_policy_calendar(args: argparse.Namespace) -> int:
    policy = _single(args.file)
    named = policy.calendar_named(args.calendar)
    calendar = named.full if isinstance(named, BusinessCalendar) else named
    if args.days < 1 or args.days > 366:
        raise UsageError("--days must be between 1 and 366")
    rows = calendar.windows_between(args.start, args.days)
    if args.json:
        print(
            json.dumps(
                {
                    "calendar": args.calendar or "default",
                    "time_zone": calendar.time_zone,
                    "days": [
                        {"date": d.isoformat(), "windows": [[s.isoformat(), e.isoformat()] for s, e in ws]}
                        for d, ws in rows
                    ],
                }
            )
        )
        return 0
    print(f"calendar {args.calendar or 'default'} ({calendar.time_zone})")
    for d, windows in rows:
        text = (
            ", ".join(
                f"{s:%H:%M}-{e:%H:%M}" + (f" (ends {e:%a %d %b})" if e.date() != d else "") + f" {s:%Z}"
                for s, e in windows
            )
            or "closed"
        )
        note = ""
        if d in calendar.special_days:
            note = "  (special day)"
        elif calendar.is_holiday(d):
            note = "  (holiday)"
        print(f"  {d:%a %Y-%m-%d}  {text}{note}")
    return 0


# ---- explain --------------------------------------------------------------------------------------------


def cmd_policy_explain(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    path = Path(args.ticket)
    try:
        raw = json.loads(path.read_text())
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise UsageError(f"{path} is not valid JSON: {err}") from None
    try:
        ticket = TicketEvent.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        raise UsageError(f"{path}: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    policies: PolicySet = load_policy_set(args.policy)
    policy, match, checks = policies.explain(ticket)
    from workflows.triage import anomalies, opening_severity

    severity = opening_severity(ticket, policy, anomalies(ticket, policy))
    deadlines = policy.deadlines(severity)
    opened = args.at or ticket.occurred_at
    due = policy.clock(severity).add(opened, deadlines.acknowledge.total_seconds())
    budgets = {step.value: format_duration(deadlines.budget(step)) for step in Step if step is not Step.CLOSED}
    if args.json:
        print(
            json.dumps(
                {
                    "match": match.model_dump(mode="json"),
                    "checked": [c.model_dump(mode="json") for c in checks],
                    "severity": severity.value,
                    "clock": deadlines.clock,
                    "calendar": deadlines.calendar,
                    "budgets": budgets,
                    "acknowledge_due": _utc(due),
                }
            )
        )
        return 0
    where = f'rule {match.position} "{match.rule}"' if match.position else "the set's default"
    print(f"policy {match.policy} by {where}")
    for reason in match.why:
        print(f"  because {reason}")
    for check in checks:
        if not check.matched:
            print(f'  rule {check.position} "{check.rule}" did not match: {check.reasons[0]}')
    clock = (
        f"business time ({deadlines.calendar or 'default'} calendar)" if deadlines.clock == "business" else "wall time"
    )
    print(f"severity {severity.value}, {clock}: " + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in budgets.items()))
    print(f"acknowledge due {_utc(due)} (opened {_utc(opened)})")
    return 0


# ---- simulate -------------------------------------------------------------------------------------------


async def cmd_policy_simulate(args: argparse.Namespace) -> int:
    from activities.store import create_pool, require_migrated
    from activities.store.history import load_history_rows
    from workflows.simulation import format_simulation, simulate_stored

    candidate = load_policy(args.candidate)
    if args.since and args.until and args.since >= args.until:
        raise UsageError("--since must be before --until")
    pool = await create_pool(max_size=2)
    try:
        await require_migrated(pool)
        histories = await load_history_rows(pool, args.since, args.until)
    finally:
        await pool.close()
    workers = args.workers if args.workers is not None else min(2, os.cpu_count() or 1)
    report = simulate_stored(histories, candidate, since=args.since, until=args.until, workers=workers)
    print(report.model_dump_json(indent=2) if args.json else format_simulation(report))
    sys.stdout.flush()
    return 0


def add_commands(policy_sub: Any) -> None:
    """`recovery policy ACTION`: the parsers of this module's commands."""
    check = policy_sub.add_parser("check", help="validate a policy file (or policy set) and summarise it")
    check.set_defaults(func=cmd_policy_check)
    check.add_argument("file", nargs="?", default=None)

    due = policy_sub.add_parser("due", help="when a budget started at an instant is due (ISO 8601, UTC)")
    due.set_defaults(func=cmd_policy_due)
    due.add_argument("file", nargs="?", default=None, help="policy file (default $RECOVERY_POLICY or the packaged one)")
    due.add_argument("--from", dest="start", type=instant, required=True, help="ISO 8601 instant with a zone")
    due.add_argument("--budget", type=duration, required=True, help="e.g. 4h, 1h30m, 2d")
    which = due.add_mutually_exclusive_group(required=True)
    which.add_argument("--calendar", help="a calendar of the policy ('default' is the [calendar] short form)")
    which.add_argument("--severity", choices=[s.value for s in Severity], help="count as this severity does")
    due.add_argument("--json", action="store_true")

    cal = policy_sub.add_parser("calendar", help="the working windows of some days, in the calendar's zone")
    cal.set_defaults(func=cmd_policy_calendar)
    cal.add_argument("file", nargs="?", default=None)
    cal.add_argument("--calendar", default=None, help="calendar name (default: the [calendar] short form)")
    cal.add_argument("--from", dest="start", type=day, required=True, help="first date, e.g. 2026-12-21")
    cal.add_argument("--days", type=int, default=7)
    cal.add_argument("--json", action="store_true")

    explain = policy_sub.add_parser("explain", help="which rule a ticket matches, and the deadlines it gives")
    explain.set_defaults(func=cmd_policy_explain)
    explain.add_argument("ticket", help="a ticket event JSON file (the generic shape)")
    explain.add_argument("--policy", default=None, help="policy set or policy file (default $RECOVERY_POLICY)")
    explain.add_argument("--at", type=instant, default=None, help="opening instant (default: the ticket's occurred_at)")
    explain.add_argument("--json", action="store_true")

    sim = policy_sub.add_parser("simulate", help="replay stored cases under a candidate policy and compare")
    sim.set_defaults(func=cmd_policy_simulate)
    sim.add_argument("candidate", help="the candidate policy TOML")
    sim.add_argument("--since", type=moment, default=None, help="cases opened at or after (ISO date/time)")
    sim.add_argument("--until", type=moment, default=None, help="cases opened before (ISO date/time)")
    sim.add_argument("--workers", type=int, default=None, help="processes (default: up to 2)")
    sim.add_argument("--json", action="store_true")

"""Case commands: open a case from a ticket file, run an agent's step, show a case."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any


from starter.cli.common import UsageError, _actor, _client, _model, _print_json
from starter.steps import BY_COMMAND
from workflows.models import CaseStatus, CompensationKind, DomainEvent, FollowUpOutcome, TicketEvent
from workflows.policy import Severity
from workflows.rules import load_policy_set

# ---- step commands: each command's own arguments and how they become its input ---------------
# (the command names, help, updates and input types come from starter.steps.AGENT_STEPS)

Argument = tuple[tuple[str, ...], dict[str, Any]]
StepBuilder = Callable[[argparse.Namespace], dict[str, Any]]
STEP_ARGUMENTS: dict[str, tuple[list[Argument], StepBuilder]] = {
    "ack": ([(("--message",), {"default": "", "help": "apology / personal note to the customer"})],
            lambda a: {"message": a.message}),
    "fix": ([(("--description",), {"required": True, "help": "what was done to fix it"})],
            lambda a: {"description": a.description}),
    "compensate": ([(("--kind",), {"required": True, "choices": [k.value for k in CompensationKind]}),
                    (("--amount",), {"help": "decimal string, e.g. 20.00"}),
                    (("--currency",), {"default": "USD", "help": "ISO 4217 code (default USD)"}),
                    (("--reason",), {"default": "", "help": "why (required for --kind none)"}),
                    (("--reference",), {"help": "external reference if you issued it yourself"})],
                   lambda a: {"kind": a.kind, "reason": a.reason, "reference": a.reference,
                              "amount": {"amount": a.amount, "currency": a.currency} if a.amount else None}),
    "approve": ([(("--reject",), {"action": "store_true", "help": "reject it instead"}),
                 (("--note",), {"default": ""})],
                lambda a: {"approve": not a.reject, "note": a.note}),
    "follow-up": ([(("--outcome",), {"required": True, "choices": [o.value for o in FollowUpOutcome]}),
                   (("--csat",), {"type": int, "help": "customer satisfaction 1-5"}),
                   (("--note",), {"default": ""})],
                  lambda a: {"outcome": a.outcome, "csat": a.csat, "note": a.note}),
    "close": ([(("--root-cause",), {"required": True}), (("--note",), {"required": True})],
              lambda a: {"root_cause": a.root_cause, "note": a.note}),
    "pause": ([(("--reason",), {"required": True})], lambda a: {"reason": a.reason}),
    "resume": ([(("--note",), {"default": ""})], lambda a: {"note": a.note}),
    "assign": ([(("--to",), {"required": True, "dest": "assignee", "help": "agent id of the new owner"}),
                (("--note",), {"default": ""})],
               lambda a: {"assignee": a.assignee, "note": a.note}),
    "severity": ([(("--to",), {"required": True, "choices": [s.value for s in Severity], "dest": "severity"}),
                  (("--reason",), {"required": True})],
                 lambda a: {"severity": a.severity, "reason": a.reason}),
}


# ---- output -----------------------------------------------------------------------------------

def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z") if moment else "-"


def format_status(status: CaseStatus) -> str:
    d = status.deadlines
    due = "paused" if status.paused else _when(d.due_at)
    level = f"{status.escalation_level} ({status.escalation_role})" if status.escalation_level else "0"
    rows = [
        ("case", f"{status.case_id}  ({status.workflow_id})"),
        ("subject", status.subject),
        ("step", status.step.value),
        ("severity", status.severity.value),
        ("due", f"{due}  [{d.clock} clock]" if status.step.value != "closed" else "-"),
        ("next warning", _when(d.next_warning_at)),
        ("next escalation", _when(d.next_escalation_at)),
        ("escalation level", level),
        ("contacts", str(status.contact_count)),
        ("owner", status.assignee or "unassigned"),
    ]
    if status.paused:
        rows.append(("paused", status.pause_reason or ""))
    for comp in status.compensation:
        rows.append(("compensation", f"{comp.kind.value} {comp.amount or ''} ref {comp.reference}".replace("  ", " ")))
    if status.pending_compensation:
        p = status.pending_compensation
        rows.append(("pending", f"{p.kind.value} {p.amount or ''} by {p.proposed_by.id}: {p.status.replace('_', ' ')}"))
    if status.root_cause:
        rows.append(("root cause", status.root_cause))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def format_timeline(events: list[DomainEvent]) -> str:
    header = ("seq", "time (UTC)", "event", "actor", "details")
    rows = [header]
    for e in events:
        details = ", ".join(f"{k}={v}" for k, v in e.data.items() if v not in (None, "", [], {}))
        rows.append((str(e.seq), e.at.strftime("%Y-%m-%d %H:%M:%S"), e.type, e.actor,
                     details if len(details) <= 90 else details[:87] + "..."))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows)


# ---- commands ---------------------------------------------------------------------------------

async def cmd_open(args: argparse.Namespace) -> int:
    from starter.cases import open_case

    path = Path(args.file)
    try:
        raw = json.loads(path.read_text() if args.file != "-" else sys.stdin.read())
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise UsageError(f"{path} is not valid JSON: {err}") from None
    ticket = _model(TicketEvent, raw)
    policy = load_policy_set(args.policy)
    client = await _client(args)
    result = await open_case(client, ticket, policy, args.task_queue)
    if args.json:
        _print_json(result)
    else:
        what = "opened" if result.created else ("duplicate event, nothing changed" if result.duplicate
                                                  else "repeat contact added")
        print(f"{result.case_id}: {what} (contacts: {result.contact_count}, workflow {result.workflow_id})")
    return 0


async def cmd_step(args: argparse.Namespace) -> int:
    from starter.cases import run_step

    step = BY_COMMAND[args.command]
    _, build = STEP_ARGUMENTS[args.command]
    inp = _model(step.input, {"actor": _actor(args), **build(args)})
    if step.command == "assign":
        from starter.agents import load_agents

        agents = load_agents()  # with RECOVERY_AGENTS set, the new owner must be one of its agents
        if len(agents) and agents.role_of(args.assignee) is None:
            raise UsageError(f"--to: {args.assignee!r} is not an agent in {os.environ.get('RECOVERY_AGENTS')}")
    client = await _client(args)
    status = await run_step(client, args.case, step.update, inp)
    if args.json:
        _print_json(status)
    else:
        print(format_status(status))
    return 0


async def cmd_show(args: argparse.Namespace) -> int:
    from starter.cases import status, timeline

    client = await _client(args)
    current = await status(client, args.case)
    events = await timeline(client, args.case)
    if args.json:
        print(json.dumps({"status": current.model_dump(mode="json"),
                          "timeline": [e.model_dump(mode="json") for e in events]}, indent=2))
    else:
        print(format_status(current))
        print()
        print(format_timeline(events))
    return 0

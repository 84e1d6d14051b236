"""Case commands: open a case from a ticket file, run an agent's step, show a case, apply a policy.

Each goes through the HTTP API as the token's agent (`remote`), or with `--operator` straight to
Temporal as `--agent/--role` (operators only). Input is validated here first either way: bad input
is exit 2 before anything is sent."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from starter.cli import remote
from starter.cli.common import UsageError, _actor, _client, _model, _print_json
from starter.steps import BY_COMMAND
from workflows.complaint import ComplaintWorkflow
from workflows.models import (
    ApplyPolicyInput,
    CaseStatus,
    CompensationKind,
    ContactResult,
    DomainEvent,
    FollowUpOutcome,
    TicketEvent,
)
from workflows.policy import Severity
from workflows.policy_files import load_policy
from workflows.rules import load_policy_set

# ---- step commands: each command's own arguments and how they become its input ---------------
# (the command names, help, updates and input types come from starter.steps.AGENT_STEPS)

Argument = tuple[tuple[str, ...], dict[str, Any]]
StepBuilder = Callable[[argparse.Namespace], dict[str, Any]]
STEP_ARGUMENTS: dict[str, tuple[list[Argument], StepBuilder]] = {
    "ack": (
        [(("--message",), {"default": "", "help": "apology / personal note to the customer"})],
        lambda a: {"message": a.message},
    ),
    "fix": (
        [(("--description",), {"required": True, "help": "what was done to fix it"})],
        lambda a: {"description": a.description},
    ),
    "compensate": (
        [
            (("--kind",), {"required": True, "choices": [k.value for k in CompensationKind]}),
            (("--amount",), {"help": "decimal string, e.g. 20.00"}),
            (("--currency",), {"default": "USD", "help": "ISO 4217 code (default USD)"}),
            (("--reason",), {"default": "", "help": "why (required for --kind none)"}),
            (("--reference",), {"help": "external reference if you issued it yourself"}),
        ],
        lambda a: {
            "kind": a.kind,
            "reason": a.reason,
            "reference": a.reference,
            "amount": {"amount": a.amount, "currency": a.currency} if a.amount else None,
        },
    ),
    "offer": (
        [
            (
                ("--option",),
                {
                    "action": "append",
                    "required": True,
                    "dest": "options",
                    "metavar": "KIND[:AMOUNT[:LABEL]]",
                    "help": "a remedy (2-4 of them), e.g. refund:20.00, 'replacement::a new one, shipped today'",
                },
            ),
            (("--currency",), {"default": "USD", "help": "ISO 4217 code of the amounts (default USD)"}),
            (("--default",), {"type": int, "default": 1, "help": "the option (1-based) issued at the deadline"}),
            (("--choose-by",), {"help": "the choice deadline, ISO 8601 with a zone (default: the policy's)"}),
            (("--reason",), {"default": ""}),
        ],
        lambda a: {
            "options": [remedy_option(text, a.currency) for text in a.options],
            "default": a.default,
            "choose_by": a.choose_by,
            "reason": a.reason,
        },
    ),
    "approve": (
        [(("--reject",), {"action": "store_true", "help": "reject it instead"}), (("--note",), {"default": ""})],
        lambda a: {"approve": not a.reject, "note": a.note},
    ),
    "follow-up": (
        [
            (("--outcome",), {"required": True, "choices": [o.value for o in FollowUpOutcome]}),
            (("--csat",), {"type": int, "help": "customer satisfaction 1-5"}),
            (("--note",), {"default": ""}),
        ],
        lambda a: {"outcome": a.outcome, "csat": a.csat, "note": a.note},
    ),
    "close": (
        [(("--root-cause",), {"required": True}), (("--note",), {"required": True})],
        lambda a: {"root_cause": a.root_cause, "note": a.note},
    ),
    "pause": ([(("--reason",), {"required": True})], lambda a: {"reason": a.reason}),
    "resume": ([(("--note",), {"default": ""})], lambda a: {"note": a.note}),
    "assign": (
        [
            (("--to",), {"required": True, "dest": "assignee", "help": "agent id of the new owner"}),
            (("--note",), {"default": ""}),
        ],
        lambda a: {"assignee": a.assignee, "note": a.note},
    ),
    "severity": (
        [
            (("--to",), {"required": True, "choices": [s.value for s in Severity], "dest": "severity"}),
            (("--reason",), {"required": True}),
        ],
        lambda a: {"severity": a.severity, "reason": a.reason},
    ),
}


def remedy_option(text: str, currency: str) -> dict[str, Any]:
    """`KIND[:AMOUNT[:LABEL]]` as an offer's option (checked with the step's input)."""
    kind, _, rest = text.partition(":")
    amount, _, label = rest.partition(":")
    option: dict[str, Any] = {"kind": kind.strip()}
    if amount.strip():
        option["amount"] = {"amount": amount.strip(), "currency": currency}
    if label.strip():
        option["label"] = label.strip()
    return option


_ANYONE = {"id": "cli", "role": "agent"}  # stands in for the token's agent when checking input locally


def _operator_actor(args: argparse.Namespace) -> dict[str, str]:
    if not args.agent:
        raise UsageError("--operator needs --agent (and --role): Temporal takes them on trust")
    args.role = args.role or os.environ.get("RECOVERY_ROLE", "agent")
    return _actor(args)


def _no_identity_flags(args: argparse.Namespace) -> None:
    if getattr(args, "agent", None) or getattr(args, "role", None):
        raise UsageError("--agent/--role are for --operator mode only; through the API your token says who you are")


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
    if status.offer:
        o = status.offer
        state = {"open": f"open until {_when(o.choose_by)}", "expired": "expired, nothing picked"}.get(
            o.status, f"option {o.picked} picked by {o.picked_by}"
        )
        rows.append(("offer", f"{state} (default {o.default})"))
        rows += [("", f"{n}. {option.describe()}") for n, option in enumerate(o.options, 1)]
    if status.root_cause:
        rows.append(("root cause", status.root_cause))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def format_timeline(events: list[DomainEvent]) -> str:
    header = ("seq", "time (UTC)", "event", "actor", "details")
    rows = [header]
    for e in events:
        details = ", ".join(f"{k}={v}" for k, v in e.data.items() if v not in (None, "", [], {}))
        rows.append(
            (
                str(e.seq),
                e.at.strftime("%Y-%m-%d %H:%M:%S"),
                e.type,
                e.actor,
                details if len(details) <= 90 else details[:87] + "...",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows)


@contextlib.asynccontextmanager
async def _event_store() -> AsyncIterator[Callable[[], Awaitable[Any]] | None]:
    """The event store `open_case` asks, as the API does, for generations Temporal's retention purged
    (never reused): `DATABASE_URL`'s PostgreSQL, connected on first use. Without DATABASE_URL none (an
    operator's CLI never starts the embedded PostgreSQL): Temporal alone decides, as `open_case` does
    when the database is down."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        yield None
        return
    from activities.store import create_pool
    from recovery.logs import configure_logging

    # "event store unreachable" and the like go to stderr: stdout is the answer (and --json's).
    configure_logging(os.environ.get("RECOVERY_LOG_LEVEL", "WARNING"))
    pools: list[Any] = []

    async def database() -> Any:
        if not pools:
            pools.append(await asyncio.wait_for(create_pool(url, min_size=1, max_size=1), timeout=10))
        return pools[0]

    try:
        yield database
    finally:
        for pool in pools:
            await pool.close()


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
    if not args.operator:
        if args.policy:
            raise UsageError("--policy is for --operator mode; through the API a case gets the API's policy")
        result = ContactResult.model_validate(await remote.Api(args).call("POST", "/v1/tickets", raw))
    else:
        policy = load_policy_set(args.policy)
        client = await _client(args)
        async with _event_store() as database:
            result = await open_case(client, ticket, policy, args.task_queue, database)
    if args.json:
        _print_json(result)
    else:
        what = (
            "opened"
            if result.created
            else ("duplicate event, nothing changed" if result.duplicate else "repeat contact added")
        )
        print(f"{result.case_id}: {what} (contacts: {result.contact_count}, workflow {result.workflow_id})")
    return 0


async def cmd_step(args: argparse.Namespace) -> int:
    from starter.cases import run_step

    step = BY_COMMAND[args.command]
    _, build = STEP_ARGUMENTS[args.command]
    body = build(args)
    if not args.operator:
        _model(step.input, {"actor": _ANYONE, **body})
        _no_identity_flags(args)
        if step.path is None:
            raise UsageError(f"`{step.command}` is not offered by the API; operators: --operator")
        answer = await remote.Api(args).call("POST", remote.case_path(args.case, step.path), remote.without_none(body))
        status = CaseStatus.model_validate(answer)
    else:
        inp = _model(step.input, {"actor": _operator_actor(args), **body})
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

    if not args.operator:
        answer = await remote.Api(args).call("GET", remote.case_path(args.case))
        events = [DomainEvent.model_validate(e) for e in answer.pop("timeline", [])]
        current = CaseStatus.model_validate(answer)
    else:
        client = await _client(args)
        current = await status(client, args.case)
        events = await timeline(client, args.case)
    if args.json:
        print(
            json.dumps(
                {"status": current.model_dump(mode="json"), "timeline": [e.model_dump(mode="json") for e in events]},
                indent=2,
            )
        )
    else:
        print(format_status(current))
        print()
        print(format_timeline(events))
    return 0


async def cmd_apply_policy(args: argparse.Namespace) -> int:
    """Move an open case onto a policy: through the API its current policy (`--expect name@version`
    guards against applying another one); with --operator the file given (or RECOVERY_POLICY)."""
    from starter.cases import run_step

    if not args.operator:
        _no_identity_flags(args)
        if args.policy:
            raise UsageError(
                "--policy is for --operator mode; through the API the case gets the API's policy "
                "(use --expect name@version to make sure which)"
            )
        answer = await remote.Api(args).call(
            "POST", remote.case_path(args.case, "policy"), remote.without_none({"expected": args.expect})
        )
        status = CaseStatus.model_validate(answer)
    else:
        policy = load_policy(args.policy)
        if args.expect and args.expect != f"{policy.name}@{policy.version}":
            raise UsageError(f"the policy file is {policy.name}@{policy.version}, not {args.expect}")
        inp = _model(ApplyPolicyInput, {"actor": _operator_actor(args), "policy": policy})
        status = await run_step(await _client(args), args.case, ComplaintWorkflow.apply_policy, inp)
    if args.json:
        _print_json(status)
    else:
        print(format_status(status))
    return 0

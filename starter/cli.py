"""The `recovery` command line: run the worker or the local stack, open cases, report agents' steps.

Every failure is one line on stderr and a non-zero exit: 2 for bad input, 1 for a step the engine
refused or a server that can't be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from workflows.converter import describe_validation_error
from workflows.models import (
    AcknowledgeInput,
    CaseStatus,
    ChangeSeverityInput,
    CloseInput,
    CompensateInput,
    DomainEvent,
    FixInput,
    FollowUpInput,
    PauseInput,
    ResumeInput,
    ApprovalInput,
    TicketEvent,
)
from workflows.policy import PolicyError, load_policy


class UsageError(Exception):
    """Bad input on the command line or in a file: exit 2."""


def _model(cls: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise UsageError(describe_validation_error(err)) from None


def _actor(args: argparse.Namespace) -> dict[str, str]:
    return {"id": args.agent, "role": args.role}


# ---- step commands: name → (update, help, arguments, build input) --------------------------

StepBuilder = Callable[[argparse.Namespace], dict[str, Any]]
STEP_COMMANDS: dict[str, tuple[str, str, type[BaseModel], list[tuple[tuple[str, ...], dict[str, Any]]], StepBuilder]] = {
    "ack": ("acknowledge", "acknowledge the complaint and apologise", AcknowledgeInput,
            [(("--message",), {"default": "", "help": "apology / personal note to the customer"})],
            lambda a: {"message": a.message}),
    "fix": ("record_fix", "record the fix", FixInput,
            [(("--description",), {"required": True, "help": "what was done to fix it"})],
            lambda a: {"description": a.description}),
    "compensate": ("compensate", "propose compensation (issued at once within your authority)", CompensateInput,
                   [(("--kind",), {"required": True,
                                   "choices": ["refund", "credit", "coupon", "upgrade", "gift", "none"]}),
                    (("--amount",), {"help": "decimal string, e.g. 20.00"}),
                    (("--currency",), {"default": "USD", "help": "ISO 4217 code (default USD)"}),
                    (("--reason",), {"default": "", "help": "why (required for --kind none)"}),
                    (("--reference",), {"help": "external reference if you issued it yourself"})],
                   lambda a: {"kind": a.kind, "reason": a.reason, "reference": a.reference,
                              "amount": {"amount": a.amount, "currency": a.currency} if a.amount else None}),
    "approve": ("approve_compensation", "approve (or --reject) the compensation waiting for approval",
                ApprovalInput,
                [(("--reject",), {"action": "store_true", "help": "reject it instead"}),
                 (("--note",), {"default": ""})],
                lambda a: {"approve": not a.reject, "note": a.note}),
    "follow-up": ("complete_follow_up", "record the customer's answer to the follow-up", FollowUpInput,
                  [(("--outcome",), {"required": True, "choices": ["satisfied", "unsatisfied", "no_response"]}),
                   (("--csat",), {"type": int, "help": "customer satisfaction 1-5"}),
                   (("--note",), {"default": ""})],
                  lambda a: {"outcome": a.outcome, "csat": a.csat, "note": a.note}),
    "close": ("close", "close with a root cause from the policy", CloseInput,
              [(("--root-cause",), {"required": True}), (("--note",), {"required": True})],
              lambda a: {"root_cause": a.root_cause, "note": a.note}),
    "pause": ("pause", "pause while waiting on the customer (deadlines stop)", PauseInput,
              [(("--reason",), {"required": True})], lambda a: {"reason": a.reason}),
    "resume": ("resume", "resume a paused case", ResumeInput,
               [(("--note",), {"default": ""})], lambda a: {"note": a.note}),
    "severity": ("change_severity", "change the severity (deadlines recomputed)", ChangeSeverityInput,
                 [(("--to",), {"required": True, "choices": ["critical", "high", "normal", "low"],
                               "dest": "severity"}),
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


def _print_json(model: Any) -> None:
    if isinstance(model, list):
        print(json.dumps([m.model_dump(mode="json") for m in model], indent=2))
    else:
        print(model.model_dump_json(indent=2))


# ---- commands ---------------------------------------------------------------------------------

async def _client(args: argparse.Namespace):
    from worker import connect

    try:
        return await connect(args.address, args.namespace)
    except Exception as err:  # connection errors come in several types; all mean the same here
        where = args.address or os.environ.get("TEMPORAL_ADDRESS", "localhost:7233")
        raise ConnectionError(f"cannot reach Temporal at {where}: {err}") from None


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
    policy = load_policy(args.policy)
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

    update, _, model, _, build = STEP_COMMANDS[args.command]
    inp = _model(model, {"actor": _actor(args), **build(args)})
    client = await _client(args)
    status = await run_step(client, args.case, update, inp)
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


def cmd_policy_check(args: argparse.Namespace) -> int:
    policy = load_policy(args.file)
    print(f"policy {policy.name}@{policy.version}: ok")
    for severity, d in policy.severities.items():
        print(f"  {severity.value:<8} [{d.clock}] acknowledge {d.model_dump(mode='json')['acknowledge']}, "
              f"fix {d.model_dump(mode='json')['fix']}, compensate {d.model_dump(mode='json')['compensate']}, "
              f"follow-up {d.model_dump(mode='json')['follow_up']}, close {d.model_dump(mode='json')['close']}")
    print(f"  ladder: {' → '.join(policy.escalation.ladder)}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    import worker

    os.environ["RECOVERY_TASK_QUEUE"] = args.task_queue
    if args.address:
        os.environ["TEMPORAL_ADDRESS"] = args.address
    if args.namespace:
        os.environ["TEMPORAL_NAMESPACE"] = args.namespace
    return worker.main()


async def cmd_db(args: argparse.Namespace) -> int:
    from activities.store import create_pool, migrate, pending_migrations
    from activities.store.projection import rebuild

    pool = await create_pool()
    try:
        if args.db_command == "migrate":
            applied = await migrate(pool)
            print(f"applied {', '.join(applied)}" if applied else "database is up to date")
        elif args.db_command == "status":
            pending = await pending_migrations(pool)
            print(f"pending migrations: {', '.join(pending)}" if pending else "database is up to date")
            return 1 if pending else 0
        else:
            pending = await pending_migrations(pool)
            if pending:
                raise UsageError("the database is not migrated; run `recovery db migrate` first")
            started = time.monotonic()
            count = await rebuild(pool)
            print(f"rebuilt the read model of {count} cases from the event store in {time.monotonic() - started:.1f}s")
    finally:
        await pool.close()
    return 0


async def cmd_report(args: argparse.Namespace) -> int:
    from activities.store import create_pool, require_migrated
    from activities.store.reports import format_report, sla_report

    pool = await create_pool()
    try:
        await require_migrated(pool)
        try:
            report = await sla_report(pool, since=args.since, until=args.until, top=args.top)
        except ValueError as err:
            raise UsageError(str(err)) from None
    finally:
        await pool.close()
    print(report.model_dump_json(indent=2) if args.json else format_report(report))
    return 0


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date or time (e.g. 2026-11-01)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from activities.log_config import configure_logging
    from starter.agents import AgentsError
    from starter.api import create_app, settings_from_env
    from starter.intake import IntakeConfigError
    from worker import connect

    if args.address:
        os.environ["TEMPORAL_ADDRESS"] = args.address
    os.environ["RECOVERY_TASK_QUEUE"] = args.task_queue
    try:
        settings = settings_from_env()
    except (AgentsError, IntakeConfigError) as err:
        raise UsageError(str(err)) from None
    if not len(settings.agents):
        print("recovery: warning: no agents configured (RECOVERY_AGENTS); only signed webhooks will work",
              file=sys.stderr)
    configure_logging(os.environ.get("RECOVERY_LOG_LEVEL", "INFO"))
    app = create_app(settings, connect=lambda: connect(args.address, args.namespace))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_codec_server(args: argparse.Namespace) -> int:
    from starter.codec_server import serve
    from workflows.codec import CodecConfigError

    try:
        serve(host=args.host, port=args.port, cors_origin=args.cors_origin)
    except CodecConfigError as err:
        raise UsageError(str(err)) from None
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from starter.demo import run_demo

    return run_demo(api_url=args.api, ui_url=args.ui, temporal_address=args.address or "127.0.0.1:7233",
                    token_file=args.token_file)


def cmd_dev(args: argparse.Namespace) -> int:
    from starter.dev import run_dev

    return run_dev(home=Path(args.home), port=args.port, ui_port=args.ui_port, api_port=args.api_port,
                   task_queue=args.task_queue, metrics_port=args.metrics_port, demo_policy=args.demo_policy,
                   codec_port=args.codec_port)


# ---- parser -----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recovery", description="Service-recovery engine on Temporal.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--address", default=None, help="Temporal host:port (default: envconfig / TEMPORAL_ADDRESS"
                        " / localhost:7233)")
    common.add_argument("--namespace", default=None, help="Temporal namespace (default: envconfig or 'default')")
    common.add_argument("--task-queue", default=os.environ.get("RECOVERY_TASK_QUEUE", "recovery"))
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("worker", parents=[common], help="run the worker (SIGTERM stops it gracefully)")
    codec = sub.add_parser("codec-server", help="serve /encode and /decode for the Temporal UI (payload encryption)")
    codec.add_argument("--host", default="127.0.0.1")
    codec.add_argument("--port", type=int, default=int(os.environ.get("RECOVERY_CODEC_PORT", "8888")))
    codec.add_argument("--cors-origin", default=os.environ.get("RECOVERY_CODEC_CORS_ORIGIN", "http://localhost:8233"),
                       help="the Temporal UI's origin")
    demo = sub.add_parser("demo", parents=[common], help="play the classic cases against a running `recovery dev --demo-policy`")
    demo.add_argument("--api", default=os.environ.get("RECOVERY_API_URL", "http://127.0.0.1:8080"))
    demo.add_argument("--ui", default="http://127.0.0.1:8233")
    demo.add_argument("--token-file", default=None, help="agents file with plain tokens (default: the dev agents)")
    db = sub.add_parser("db", help="database: migrate, status, rebuild the read model")
    db.add_argument("db_command", choices=["migrate", "status", "rebuild"], metavar="ACTION",
                    help="migrate | status | rebuild")
    report = sub.add_parser("report", help="SLA report from the read model")
    report.add_argument("--since", type=_moment, default=None, help="cases opened at or after (ISO date/time)")
    report.add_argument("--until", type=_moment, default=None, help="cases opened before (ISO date/time)")
    report.add_argument("--top", type=int, default=5, help="how many top root causes")
    report.add_argument("--json", action="store_true")
    api = sub.add_parser("api", parents=[common], help="serve the HTTP API (intake, webhooks, agents' steps)")
    api.add_argument("--host", default=os.environ.get("RECOVERY_API_HOST", "127.0.0.1"))
    api.add_argument("--port", type=int, default=int(os.environ.get("RECOVERY_API_PORT", "8080")))
    dev = sub.add_parser("dev", parents=[common], help="start the local stack: Temporal dev server + UI and a worker")
    dev.add_argument("--home", default=os.environ.get("RECOVERY_HOME", ".recovery"),
                     help="where the stack keeps its data (default $RECOVERY_HOME or ./.recovery)")
    dev.add_argument("--port", type=int, default=int(os.environ.get("RECOVERY_TEMPORAL_PORT", "7233")))
    dev.add_argument("--ui-port", type=int, default=int(os.environ.get("RECOVERY_UI_PORT", "8233")))
    dev.add_argument("--api-port", type=int, default=int(os.environ.get("RECOVERY_API_PORT", "8080")))
    dev.add_argument("--metrics-port", type=int, default=int(os.environ.get("RECOVERY_METRICS_PORT", "9464")))
    dev.add_argument("--codec-port", type=int, default=int(os.environ.get("RECOVERY_CODEC_PORT", "8888")),
                     help="codec server port when RECOVERY_CODEC_KEYS turns encryption on")
    dev.add_argument("--demo-policy", action="store_true",
                     help="new cases get the demo policy (deadlines of seconds) for `recovery demo`")

    open_ = sub.add_parser("open", parents=[common], help="open a case from a ticket event JSON file (- for stdin)")
    open_.add_argument("--file", required=True)
    open_.add_argument("--policy", default=None, help="policy TOML (default $RECOVERY_POLICY or the packaged one)")

    for name, (_, help_, _, arguments, _) in STEP_COMMANDS.items():
        p = sub.add_parser(name, parents=[common], help=help_)
        p.add_argument("case", help="case key (customer:order or source:ticket) or workflow id")
        p.add_argument("--agent", required=True, help="your agent id")
        p.add_argument("--role", default=os.environ.get("RECOVERY_ROLE", "agent"),
                       help="your role in the policy (default $RECOVERY_ROLE or 'agent')")
        for flags, options in arguments:
            p.add_argument(*flags, **options)

    show = sub.add_parser("show", parents=[common], help="print a case's status and timeline")
    show.add_argument("case")

    policy = sub.add_parser("policy", help="policy tools")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    check = policy_sub.add_parser("check", help="validate a policy file and summarise it")
    check.add_argument("file", nargs="?", default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    from activities.store import stop_embedded

    code = _main(argv)
    stop_embedded()
    # The Temporal core runtime's threads can abort the interpreter while it finalizes after a
    # client call; everything is flushed and closed by now, so leave without finalizing.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from activities.store import DatabaseError
    from starter.cases import CaseError

    try:
        if args.command == "worker":
            return cmd_worker(args)
        if args.command == "dev":
            return cmd_dev(args)
        if args.command == "api":
            return cmd_api(args)
        if args.command == "codec-server":
            return cmd_codec_server(args)
        if args.command == "demo":
            return cmd_demo(args)
        if args.command == "db":
            return asyncio.run(cmd_db(args))
        if args.command == "report":
            return asyncio.run(cmd_report(args))
        if args.command == "policy":
            return cmd_policy_check(args)
        if args.command == "open":
            return asyncio.run(cmd_open(args))
        if args.command == "show":
            return asyncio.run(cmd_show(args))
        return asyncio.run(cmd_step(args))
    except (UsageError, PolicyError) as err:
        print(f"recovery: error: {err}", file=sys.stderr)
        return 2
    except CaseError as err:
        print(f"recovery: rejected ({err.code}): {err.message}", file=sys.stderr)
        return 1
    except (ConnectionError, DatabaseError) as err:
        print(f"recovery: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

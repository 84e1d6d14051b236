"""The `recovery` command line: run the worker or the local stack, open cases, report agents' steps.

Every failure is one line on stderr and a non-zero exit: 2 for bad input, 1 for a step the engine
refused or a server that can't be reached. Each subcommand names its handler with
`set_defaults(func=...)`; handlers live in `cases` (open, steps, show), `ops` (policy, db,
report), `agents` (add, rotate), `deploy` (deploy status, promote, drain), `prevention` (open,
done, list) and `servers` (worker, api, codec-server, dev, demo).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import sys

from activities.roster import RosterError
from starter.cli import agents, cases, deploy, ops, prevention, servers
from starter.cli import policy as policy_commands
from starter.cli.common import UsageError
from starter.steps import AGENT_STEPS
from workflows.policy import PolicyError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recovery", description="Service-recovery engine on Temporal.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--address", default=None, help="Temporal host:port (default: envconfig / TEMPORAL_ADDRESS / localhost:7233)"
    )
    common.add_argument("--namespace", default=None, help="Temporal namespace (default: envconfig or 'default')")
    common.add_argument("--task-queue", default=os.environ.get("RECOVERY_TASK_QUEUE", "recovery"))
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    # Case commands go through the API as the token's agent; --operator goes to Temporal directly.
    casework = argparse.ArgumentParser(add_help=False, parents=[common])
    casework.add_argument(
        "--operator",
        action="store_true",
        help="OPERATORS ONLY: talk to Temporal directly, trusting --agent/--role "
        "(default: through the API as the agent of RECOVERY_TOKEN)",
    )
    casework.add_argument(
        "--api",
        default=None,
        help="the API's URL (default $RECOVERY_API_URL, the config file, or http://127.0.0.1:8080)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    worker = sub.add_parser("worker", parents=[common], help="run the worker (SIGTERM stops it gracefully)")
    worker.set_defaults(func=servers.cmd_worker)
    worker.add_argument(
        "--processes",
        type=int,
        default=int(os.environ.get("RECOVERY_WORKER_PROCESSES", "1")),
        help="worker processes on the task queue (a supervisor starts them and forwards SIGTERM/SIGINT)",
    )
    codec = sub.add_parser("codec-server", help="serve /encode and /decode for the Temporal UI (payload encryption)")
    codec.set_defaults(func=servers.cmd_codec_server)
    codec.add_argument("--host", default="127.0.0.1")
    codec.add_argument("--port", type=int, default=int(os.environ.get("RECOVERY_CODEC_PORT", "8888")))
    codec.add_argument(
        "--cors-origin",
        default=os.environ.get("RECOVERY_CODEC_CORS_ORIGIN", "http://localhost:8233"),
        help="the Temporal UI's origin",
    )
    demo = sub.add_parser(
        "demo", parents=[common], help="play the classic cases against a running stack (e.g. `recovery dev`)"
    )
    demo.set_defaults(func=servers.cmd_demo)
    demo.add_argument("--api", default=os.environ.get("RECOVERY_API_URL", "http://127.0.0.1:8080"))
    demo.add_argument("--ui", default="http://127.0.0.1:8233")
    demo.add_argument("--token-file", default=None, help="agents file with plain tokens (default: the dev agents)")
    db = sub.add_parser("db", help="database: migrate, status, rebuild the read model")
    db.set_defaults(func=ops.cmd_db)
    db.add_argument(
        "db_command", choices=["migrate", "status", "rebuild"], metavar="ACTION", help="migrate | status | rebuild"
    )
    erase = sub.add_parser(
        "erase-customer", parents=[common], help="GDPR: erase a customer's data from open cases and the event store"
    )
    erase.set_defaults(func=ops.cmd_erase_customer)
    erase.add_argument("customer", help="the customer id")
    erase.add_argument("--by", required=True, help="who asked for the erasure (recorded in the erasure log)")
    erase.add_argument(
        "--delete-histories", action="store_true", help="delete the closed runs' histories (default: list them)"
    )
    erase.add_argument(
        "--event-store-only", action="store_true", help="erase the event store only; do not ask Temporal"
    )
    report = sub.add_parser("report", help="SLA report (or `report causes`, `report proactive`) from the read model")
    report.set_defaults(func=ops.cmd_report)
    report.add_argument(
        "kind",
        nargs="?",
        choices=["sla", "causes", "proactive"],
        default="sla",
        metavar="REPORT",
        help="sla (cases opened in the window; the default) | causes (cases closed in it, per root cause) | "
        "proactive (proactive against reactive cases opened in the window)",
    )
    report.add_argument("--since", type=ops._moment, default=None, help="at or after (ISO date/time)")
    report.add_argument("--until", type=ops._moment, default=None, help="before (ISO date/time)")
    report.add_argument("--top", type=int, default=None, help="sla: how many top root causes (default 5)")
    report.add_argument(
        "--weeks", type=int, default=None, help="causes: weeks of the weekly series (and the window without --since)"
    )
    report.add_argument("--json", action="store_true")
    api = sub.add_parser("api", parents=[common], help="serve the HTTP API (intake, webhooks, agents' steps)")
    api.set_defaults(func=servers.cmd_api)
    api.add_argument("--host", default=os.environ.get("RECOVERY_API_HOST", "127.0.0.1"))
    api.add_argument("--port", type=int, default=int(os.environ.get("RECOVERY_API_PORT", "8080")))
    api.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("RECOVERY_API_WORKERS", "1")),
        help="API processes sharing the port (uvicorn's multi-process mode); each is a replica of its own",
    )
    dev = sub.add_parser("dev", parents=[common], help="start the local stack: Temporal dev server + UI and a worker")
    dev.set_defaults(func=servers.cmd_dev)
    dev.add_argument(
        "--home",
        default=os.environ.get("RECOVERY_HOME", ".recovery"),
        help="where the stack keeps its data (default $RECOVERY_HOME or ./.recovery)",
    )
    dev.add_argument("--port", type=int, default=int(os.environ.get("RECOVERY_TEMPORAL_PORT", "7233")))
    dev.add_argument("--ui-port", type=int, default=int(os.environ.get("RECOVERY_UI_PORT", "8233")))
    dev.add_argument("--api-port", type=int, default=int(os.environ.get("RECOVERY_API_PORT", "8080")))
    dev.add_argument("--metrics-port", type=int, default=int(os.environ.get("RECOVERY_METRICS_PORT", "9464")))
    dev.add_argument(
        "--codec-port",
        type=int,
        default=int(os.environ.get("RECOVERY_CODEC_PORT", "8888")),
        help="codec server port when RECOVERY_CODEC_KEYS turns encryption on",
    )
    dev.add_argument(
        "--demo-policy",
        action="store_true",
        help="new cases get the demo policy (deadlines of seconds) for `recovery demo`",
    )

    open_ = sub.add_parser("open", parents=[casework], help="open a case from a ticket event JSON file (- for stdin)")
    open_.set_defaults(func=cases.cmd_open)
    open_.add_argument("--file", required=True)
    open_.add_argument("--policy", default=None, help="policy TOML (default $RECOVERY_POLICY or the packaged one)")

    for step in AGENT_STEPS:
        if step.command is None:
            continue
        arguments, _ = cases.STEP_ARGUMENTS[step.command]
        p = sub.add_parser(step.command, parents=[casework], help=step.help)
        p.set_defaults(func=cases.cmd_step)
        p.add_argument("case", help="case key (customer:order or source:ticket) or workflow id")
        _identity(p)
        for flags, options in arguments:
            p.add_argument(*flags, **options)

    apply = sub.add_parser(
        "apply-policy", parents=[casework], help="move an open case onto a policy (roles its current policy allows)"
    )
    apply.set_defaults(func=cases.cmd_apply_policy)
    apply.add_argument("case", help="case key (customer:order or source:ticket) or workflow id")
    apply.add_argument("--expect", default=None, help="name@version you mean to apply (refused if it is another)")
    apply.add_argument("--policy", default=None, help="--operator only: policy TOML (default $RECOVERY_POLICY)")
    _identity(apply)

    show = sub.add_parser("show", parents=[casework], help="print a case's status and timeline")
    show.set_defaults(func=cases.cmd_show)
    show.add_argument("case")

    policy = sub.add_parser("policy", help="policy tools")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    policy_commands.add_commands(policy_sub)

    deploy.add_commands(sub, common)
    agents.add_commands(sub)
    prevention.add_commands(sub)

    roster = sub.add_parser("roster", help="roster tools (the people behind each escalation role)")
    roster_sub = roster.add_subparsers(dest="roster_command", required=True, metavar="ACTION")
    roster_check = roster_sub.add_parser("check", help="validate a roster file and summarise it")
    roster_check.set_defaults(func=ops.cmd_roster_check)
    roster_check.add_argument("file")
    return parser


def _identity(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--agent", default=None, help="--operator only: the agent id Temporal is told")
    parser.add_argument(
        "--role", default=None, help="--operator only: the role Temporal is told (default $RECOVERY_ROLE or 'agent')"
    )


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
    from recovery.deployments import DeploymentError
    from starter.cases import CaseError

    try:
        result = args.func(args)
        return asyncio.run(result) if inspect.iscoroutine(result) else result
    except (UsageError, PolicyError, RosterError) as err:
        print(f"recovery: error: {err}", file=sys.stderr)
        return 2
    except CaseError as err:
        print(f"recovery: rejected ({err.code}): {err.message}", file=sys.stderr)
        return 1
    except (ConnectionError, DatabaseError, DeploymentError) as err:
        print(f"recovery: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # never a traceback: one line, and the kind of failure for a bug report
        print(f"recovery: error: unexpected {type(err).__name__}: {err}", file=sys.stderr)
        return 1

"""`recovery deploy status | promote BUILD | drain BUILD`: the Worker Deployment of the recovery
workers (calls in recovery/deployments.py; build ids from recovery/versioning.py)."""

from __future__ import annotations

import argparse
import json
import sys

from recovery.deployments import DeploymentStatus, DrainResult
from recovery.versioning import deployment_name
from starter.cli.common import UsageError, _client, _print_json


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    deploy = sub.add_parser("deploy", help="worker deployment: status, promote a build, drain a build")
    deploy_sub = deploy.add_subparsers(dest="deploy_command", required=True, metavar="ACTION")
    shared = argparse.ArgumentParser(add_help=False, parents=[common])
    shared.add_argument(
        "--deployment",
        default=deployment_name(),
        help="the Worker Deployment (default $RECOVERY_DEPLOYMENT_NAME or 'recovery')",
    )
    status = deploy_sub.add_parser(
        "status", parents=[shared], help="the builds, which is current or ramping, and the running cases on each"
    )
    status.set_defaults(func=cmd_status)
    promote = deploy_sub.add_parser("promote", parents=[shared], help="make BUILD current: new cases start on it")
    promote.set_defaults(func=cmd_promote)
    promote.add_argument("build", metavar="BUILD", help="the build id (see `recovery deploy status`)")
    drain = deploy_sub.add_parser(
        "drain", parents=[shared], help="nudge every running case pinned to BUILD onto the current build"
    )
    drain.set_defaults(func=cmd_drain)
    drain.add_argument("build", metavar="BUILD", help="the old build id; its workers must still run")
    drain.add_argument(
        "--wait", type=float, default=60.0, metavar="SECONDS", help="how long to wait for the cases to move (60)"
    )


def format_status(report: DeploymentStatus) -> str:
    lines = [f"deployment {report.deployment}"]
    if not report.versions:
        return lines[0] + ": no builds"
    width = max(len("BUILD"), *(len(v.build_id) for v in report.versions))
    lines.append(f"  {'BUILD':<{width}}  {'STATUS':<12}  RUNNING CASES")
    for v in report.versions:
        role = f"ramping {v.ramp_percentage:g}%" if v.status == "ramping" else v.status
        lines.append(f"  {v.build_id:<{width}}  {role:<12}  {v.running_cases}")
    return "\n".join(lines)


async def cmd_status(args: argparse.Namespace) -> int:
    from recovery.deployments import status

    client = await _client(args)
    report = await status(client, args.deployment)
    if args.json:
        _print_json(report)
    else:
        print(format_status(report))
    return 0


async def cmd_promote(args: argparse.Namespace) -> int:
    from recovery.deployments import promote

    client = await _client(args)
    previous = await promote(client, args.deployment, args.build)
    if args.json:
        print(json.dumps({"deployment": args.deployment, "current_build": args.build, "previous_build": previous}))
    else:
        was = " (already)" if previous == args.build else f" (was {previous})" if previous else ""
        print(f"deployment {args.deployment}: build {args.build} is current{was}; new cases start on it")
    return 0


async def cmd_drain(args: argparse.Namespace) -> int:
    from recovery.deployments import drain

    if args.wait < 0:
        raise UsageError("--wait must be 0 or more seconds")
    client = await _client(args)
    result: DrainResult = await drain(client, args.deployment, args.build, wait=args.wait)
    if args.json:
        _print_json(result)
    else:
        print(
            f"deployment {result.deployment}: nudged {result.nudged} cases pinned to build {result.build_id}; "
            f"{result.left} left"
        )
    if result.left:
        print(
            f"recovery: error: {result.left} cases still pinned to build {result.build_id} after {args.wait:g}s",
            file=sys.stderr,
        )
        return 1
    return 0

"""`recovery agents add|rotate`: manage the agents file; a new token is printed once, only its hash is stored."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from starter.agents import AgentsError
from starter.cli.common import UsageError


def add_commands(sub: Any) -> None:
    agents = sub.add_parser("agents", help="the agents file: add an agent, rotate a token")
    agents_sub = agents.add_subparsers(dest="agents_command", required=True, metavar="ACTION")
    add = agents_sub.add_parser("add", help="add an agent with a new token (printed once; its hash is stored)")
    add.set_defaults(func=cmd_add)
    add.add_argument("name", help="the agent id")
    add.add_argument("--role", required=True, help="a policy role, or viewer / intake")
    add.add_argument("--file", default=None, help="the agents file (default $RECOVERY_AGENTS; created if missing)")
    rotate = agents_sub.add_parser("rotate", help="give an agent a new token (printed once); the old one stops")
    rotate.set_defaults(func=cmd_rotate)
    rotate.add_argument("name", help="the agent id")
    rotate.add_argument("--file", default=None, help="the agents file (default $RECOVERY_AGENTS)")


def _file(args: argparse.Namespace) -> Path:
    path = args.file or os.environ.get("RECOVERY_AGENTS")
    if not path:
        raise UsageError("which agents file? give --file or set RECOVERY_AGENTS")
    return Path(path)


def _shown_once(token: str, what: str) -> int:
    print(token)
    print(
        f"recovery: {what}; the token above is shown only this once (the file keeps its sha256). "
        "API processes read the file at start: restart them.",
        file=sys.stderr,
    )
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from starter.agents_file import add_agent

    path = _file(args)
    try:
        token = add_agent(path, args.name, args.role)
    except AgentsError as err:
        raise UsageError(str(err)) from None
    return _shown_once(token, f"added agent {args.name!r} (role {args.role!r}) to {path}")


def cmd_rotate(args: argparse.Namespace) -> int:
    from starter.agents_file import rotate_agent

    path = _file(args)
    try:
        token = rotate_agent(path, args.name)
    except AgentsError as err:
        raise UsageError(str(err)) from None
    return _shown_once(token, f"new token for agent {args.name!r} in {path}; the old one no longer works")

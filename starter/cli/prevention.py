"""`recovery prevention open | done | list`: prevention actions through the API, as the agent of
RECOVERY_TOKEN (opening one takes a team lead or a manager; closing one, a lead or its owner)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

from starter.cli import remote
from starter.cli.common import UsageError

STATES = ("open", "due_soon", "overdue", "done")


def add_commands(sub: Any) -> None:
    api = argparse.ArgumentParser(add_help=False)
    api.add_argument("--api", default=None, help="the API's URL (default $RECOVERY_API_URL, the config file, …)")
    api.add_argument("--json", action="store_true", help="print JSON instead of text")
    prevention = sub.add_parser("prevention", help="prevention actions for root causes (open, done, list)")
    actions = prevention.add_subparsers(dest="prevention_command", required=True, metavar="ACTION")

    opened = actions.add_parser("open", parents=[api], help="open a prevention action (team leads, managers)")
    opened.set_defaults(func=cmd_open)
    opened.add_argument("--cause", required=True, help="the root cause it addresses, e.g. wrong-item")
    opened.add_argument("--description", required=True, help="what will be changed")
    opened.add_argument("--owner", required=True, help="an agent id or a roster person")
    opened.add_argument("--due", required=True, help="due date (2026-12-20, 17:00 UTC) or ISO moment with a zone")

    done = actions.add_parser("done", parents=[api], help="close a prevention action with a note of what changed")
    done.set_defaults(func=cmd_done)
    done.add_argument("id", help="the action's id (prevention-…)")
    done.add_argument("--note", required=True, help="what was changed")

    listed = actions.add_parser("list", parents=[api], help="prevention actions with their effect")
    listed.set_defaults(func=cmd_list)
    listed.add_argument("--state", choices=STATES, default=None)
    listed.add_argument("--cause", default=None)
    listed.add_argument("--weeks", type=int, default=None, help="N of the before/after rates (default 4)")


async def cmd_open(args: argparse.Namespace) -> int:
    body = {"cause": args.cause, "description": args.description, "owner": args.owner, "due": args.due}
    state = await remote.Api(args).call("POST", "/v1/prevention", body)
    if args.json:
        print(json.dumps(state, indent=2))
    else:
        print(f"opened {state['action_id']}: {state['cause']} · owner {state['owner']} · due {_when(state['due'])}")
    return 0


async def cmd_done(args: argparse.Namespace) -> int:
    if not args.id.startswith("prevention-"):
        raise UsageError(f"{args.id!r} is not a prevention action id (prevention-…)")
    if not args.note.strip():
        raise UsageError("--note: say what was changed")
    state = await remote.Api(args).call(
        "POST", f"/v1/prevention/{quote(args.id, safe='')}/complete", {"note": args.note}
    )
    if args.json:
        print(json.dumps(state, indent=2))
    else:
        print(f"done {state['action_id']} at {_when(state['done_at'])}: {state['note']}")
    return 0


async def cmd_list(args: argparse.Namespace) -> int:
    params = {k: v for k, v in (("state", args.state), ("cause", args.cause), ("weeks", args.weeks)) if v is not None}
    query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items())
    items = await remote.Api(args).call("GET", "/v1/prevention" + (f"?{query}" if query else ""))
    if args.json:
        print(json.dumps(items, indent=2))
        return 0
    if not items:
        print("(no prevention actions)")
        return 0
    for a in items:
        if a["status"] == "done":
            effect = f"{_rate(a['before_per_week'])} → {_rate(a['after_per_week'])} cases/week"
            print(f"{a['id']}  done {_when(a['done_at'])}  {a['cause']}  {effect}  note: {a['note']}")
        else:
            print(
                f"{a['id']}  {a['state'].replace('_', ' ')}  {a['cause']}  owner {a['owner']}  due {_when(a['due_at'])}"
            )
    return 0


def _when(text: str | None) -> str:
    return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M UTC") if text else "-"


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"

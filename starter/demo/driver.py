"""The demo's driver: API calls as the demo's people, printing each action and what the engine did,
with the seconds since the start. An API error is printed as its JSON body and abandons that case
(`_Abort`); the others go on."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any, TextIO
from urllib.parse import quote

import httpx

DEMO_POLICY_NAME = "demo"
DEV_AGENTS = resources.files("starter").joinpath("dev_agents.toml")
DEMO_POLICY = resources.files("starter").joinpath("demo_policy.toml")

# Who does what: agent id in the tokens file, and the role used when that id is absent.
PEOPLE = {"alice": "agent", "lena": "team-lead", "max": "manager", "ops-intake": "intake"}

POLL_INTERVAL = 0.5
FOLLOW_UP_WAIT = 120.0  # seconds to wait for the engine to ask the customer (demo policy: 5s)
LADDER_WAIT = 120.0  # seconds to wait for the unacknowledged case to reach the ladder's top


class _Abort(Exception):
    """The current case cannot go on (an API error was printed); the others continue."""


class _NotReady(Exception):
    """The stack cannot run the demo (unreachable, wrong policy, no tokens); the message says why."""


@dataclass
class DemoCase:
    label: str
    key: str
    title: str
    done: bool = False
    final: dict[str, Any] | None = None
    seen_seq: int = 0
    skipped: bool = False
    """The stack cannot play it (the proactive case without a Stripe secret): not counted."""


@dataclass
class Demo:
    http: httpx.AsyncClient
    tokens: dict[str, str]
    out: TextIO
    run_id: str
    started: float = field(default_factory=time.time)
    width: int = 40
    move_to_demo_policy: Callable[[str], Awaitable[None]] | None = None
    """Set when the stack runs another policy: moves each new case onto the demo policy."""

    # ---- output ---------------------------------------------------------------------------

    def say(self, case: DemoCase | None, text: str, at: float | None = None) -> None:
        elapsed = (at if at is not None else time.time()) - self.started
        where = f"{case.label:<10} {case.key:<{self.width}}  " if case else ""
        print(f"[+{max(elapsed, 0.0):5.1f}s] {where}{text}", file=self.out, flush=True)

    # ---- HTTP -----------------------------------------------------------------------------

    async def call(
        self,
        case: DemoCase,
        method: str,
        path: str,
        who: str,
        body: dict[str, Any] | None = None,
        *,
        action: str,
        expect: int | None = None,
    ) -> dict[str, Any] | None:
        """One API call as `who`. An error is printed as its JSON body; the expected status returns
        None, any other error abandons the case (_Abort)."""
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        try:
            response = await self.http.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as err:
            self.say(case, f"✗ {action}: {method} {path} failed: {type(err).__name__}: {err}")
            raise _Abort from None
        if response.status_code < 400:
            try:
                return response.json()
            except ValueError:
                self.say(case, f"✗ {action}: {response.status_code} with a body that is not JSON")
                raise _Abort from None
        try:
            payload = response.json()
        except ValueError:
            payload = {"error": "http_error", "detail": response.text[:300]}
        text = json.dumps(payload, ensure_ascii=False)
        if response.status_code == expect:
            self.say(case, f"{action}: refused as expected → {response.status_code} {text}")
            return None
        self.say(case, f"✗ {action}: {response.status_code} {text}")
        raise _Abort

    async def step(
        self, case: DemoCase, path: str, who: str, body: dict[str, Any], *, action: str, expect: int | None = None
    ) -> dict[str, Any] | None:
        return await self.call(
            case, "POST", f"/v1/complaints/{quote(case.key, safe='')}/{path}", who, body, action=action, expect=expect
        )

    async def view(self, case: DemoCase) -> dict[str, Any]:
        """The case's status and timeline; prints what the engine did since the last look."""
        data = await self.call(
            case, "GET", f"/v1/complaints/{quote(case.key, safe='')}", "alice", action="read the case"
        )
        assert data is not None
        self.news(case, data)
        return data

    async def post_ticket(self, case: DemoCase, ticket: dict[str, Any], action: str) -> dict[str, Any]:
        result = await self.call(case, "POST", "/v1/tickets", "ops-intake", ticket, action=action)
        assert result is not None
        if result.get("created") and self.move_to_demo_policy is not None:
            try:
                await self.move_to_demo_policy(case.key)
            except Exception as err:  # a refused or unreachable update: this case stops, the others go on
                self.say(case, f"✗ could not move the case onto the demo policy: {err}")
                raise _Abort from None
            self.say(case, "moved onto the demo policy (apply_policy update: deadlines of seconds)")
        return result

    async def wait_for(
        self, case: DemoCase, what: str, check: Callable[[dict[str, Any]], bool], timeout: float
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            data = await self.view(case)
            if check(data):
                return data
            if time.monotonic() > deadline:
                self.say(
                    case, f"✗ gave up waiting {timeout:.0f}s for {what} (step {data['step']}); is the worker running?"
                )
                raise _Abort
            await asyncio.sleep(POLL_INTERVAL)

    # ---- what the engine did ---------------------------------------------------------------

    def news(self, case: DemoCase, data: dict[str, Any]) -> None:
        for event in data.get("timeline", []):
            if event["seq"] <= case.seen_seq:
                continue
            case.seen_seq = event["seq"]
            if event.get("actor") != "engine":
                continue
            text = _describe_engine_event(event)
            if text:
                try:
                    at = datetime.fromisoformat(event["at"]).timestamp()
                except (KeyError, ValueError):
                    at = None
                self.say(case, f"  engine: {text}", at=at)


def _describe_engine_event(event: dict[str, Any]) -> str | None:
    d = event.get("data", {})
    kind = event.get("type")
    if kind == "opened":
        anomalies = f"; anomaly: {'; '.join(d['anomalies'])}" if d.get("anomalies") else ""
        return f"opened at severity {d.get('severity')} under policy {d.get('policy')}{anomalies}"
    if kind == "severity_changed":
        return f"severity {d.get('previous')} → {d.get('severity')} ({d.get('reason')})"
    if kind == "warning":
        return f"warning: {int(float(d.get('fraction', 0)) * 100)}% of the {d.get('step')} deadline used"
    if kind == "escalated":
        return f"ESCALATED to level {d.get('level')} ({d.get('role')}) at step {d.get('step')}: {d.get('reason')}"
    if kind == "follow_up_asked":
        return "asked the customer how we did (CSAT request)"
    if kind == "customer_updated":
        return f"sent the customer a status update ({d.get('reason')})"
    if kind == "compensation_failed":
        return f"compensation failed: {d.get('reason')}"
    if kind == "notification_failed":
        via = f" ({d['channel']})" if d.get("channel") else ""
        return f"notification {d.get('template')} to {d.get('recipient')}{via} failed: {d.get('reason')}"
    if kind == "notified":
        return f"{d.get('template')} reached {', '.join(d.get('notified') or []) or 'nobody'}"
    if kind == "unreachable":
        return f"{d.get('person')} unreachable for {d.get('template')}: trying the next"
    if kind == "ticket_event_ignored":
        return f"ticket event ignored ({d.get('rule')} → {d.get('step')}): {d.get('reason')}"
    return None


def _due(status: dict[str, Any]) -> str:
    deadlines = status.get("deadlines") or {}
    remaining = deadlines.get("remaining_seconds")
    if status.get("step") == "closed":
        return "case closed"
    if status.get("step") == "follow_up" and not deadlines.get("follow_up_asked"):
        return f"step → follow_up (customer asked in {remaining:.0f}s)" if remaining is not None else "step → follow_up"
    due = f", due in {remaining:.0f}s" if remaining is not None else ""
    return f"step → {status.get('step')}{due}"


def _issued(status: dict[str, Any]) -> str:
    comps = status.get("compensation") or []
    if not comps:
        return ""
    last = comps[-1]
    amount = last["amount"]
    money = f" {amount['amount']} {amount['currency']}" if amount else ""
    return f"{last['kind']}{money} issued (ref {last.get('reference')})"


async def _guarded(demo: Demo, case: DemoCase, play: Callable[[Demo, DemoCase], Awaitable[None]]) -> None:
    try:
        await play(demo, case)
    except _Abort:
        demo.say(case, "case left where it is; the demo goes on with the others")
    except Exception as err:
        demo.say(case, f"✗ unexpected error: {type(err).__name__}: {err}; the demo goes on with the others")

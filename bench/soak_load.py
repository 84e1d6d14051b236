"""The soak's load (`bench.soak`): a fixed mixed load through a real `recovery api`, generated from a
seeded plan and bounded in count and time.

- 1 new case per second (`POST /v1/tickets`, unique ticket ids); every 5th is `critical`, whose policy
  gives a short acknowledge budget, and waits for its escalation before anyone works it;
- agents' steps on every case (acknowledge, fix, compensate, follow-up once asked, close), the agent and
  the think time before each step drawn for each case in order from one seeded generator;
- repeat contacts (every 3rd worked case: the same customer and order, a new event id) and duplicate
  deliveries (every 10th: the opening event again);
- five console users (signed in with their agent tokens) reading queue tabs, filters and case pages with
  think time;
- one console client holding the live stream (`GET /live`) open the whole time, counting its events.

Every request's latency and status is recorded by kind; an error is any exception or unexpected status.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import httpx

from bench.common import ticket

SEED = 25
TOKENS = {  # starter/dev_agents.toml
    "alice": "dev-alice-0123456789",
    "bob": "dev-bob-0123456789ab",
    "lena": "dev-lena-0123456789a",
    "max": "dev-max-0123456789ab",
    "viewer": "dev-viewer-012345678",
    "intake": "dev-intake-012345678",
}
WORKERS = ("alice", "bob")
CONSOLE_USERS = ("alice", "bob", "lena", "max", "viewer")
HTML = {"Accept": "text/html"}
STEPS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("acknowledge", {"message": "Sorry about the size."}),
    ("fix", {"description": "Replacement in size M shipped."}),
    ("compensation", {"kind": "coupon", "amount": {"amount": "20.00", "currency": "USD"}, "reason": "sorry"}),
    ("follow-up", {"outcome": "satisfied", "csat": 5}),
    ("close", {"root_cause": "wrong-item-shipped", "note": "Picking error at the warehouse."}),
)
"""The route under /v1/complaints/{case_id}/ and the body of each step, in order."""


@dataclass(frozen=True)
class Plan:
    """One case's part of the load, drawn in order from the seeded generator."""

    index: int
    customer: str
    short: bool
    """Critical: a short acknowledge budget, worked only once it escalated."""
    agent: str
    thinks: tuple[float, ...]
    """Seconds before each step."""
    repeat: bool
    duplicate: bool


def plans(count: int, nonce: str, short_until: int) -> list[Plan]:
    rng = random.Random(SEED)
    return [
        Plan(
            index=i,
            customer=f"soak{nonce}-{i}",
            short=i % 5 == 0 and i < short_until,
            agent=rng.choice(WORKERS),
            thinks=tuple(round(rng.uniform(0.5, 2.0), 2) for _ in STEPS),
            repeat=i % 3 == 0,
            duplicate=i % 10 == 4,
        )
        for i in range(count)
    ]


class Calls:
    """Each request's latency (s) and status by kind; the errors (the first 20 kept as text)."""

    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, Counter[int]] = defaultdict(Counter)
        self.errors = 0
        self.samples: list[str] = []

    def error(self, kind: str, text: str) -> None:
        self.errors += 1
        if len(self.samples) < 20:
            self.samples.append(f"{kind}: {text}"[:300])

    async def __call__(
        self, kind: str, http: httpx.AsyncClient, method: str, url: str, expected: int, **kw: Any
    ) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = await http.request(method, url, **kw)
        except httpx.HTTPError as err:
            self.error(kind, f"{method} {url}: {type(err).__name__}: {err}")
            return None
        self.latency[kind].append(time.perf_counter() - started)
        self.statuses[kind][response.status_code] += 1
        if response.status_code != expected:
            self.error(kind, f"{method} {url} answered {response.status_code}: {response.text[:160]}")
            return None
        return response


class Load:
    """The load against the API at `url` for `duration` seconds. `due_at(workflow_id)` gives a critical
    case's deadline (from the read model); `escalated(workflow_id)` when its escalation notice started
    (from the worker's log), or None yet."""

    def __init__(
        self,
        url: str,
        duration: float,
        budget_s: int,
        nonce: str,
        due_at: Callable[[str], Awaitable[float | None]],
        escalated: Callable[[str], float | None],
    ):
        self.url, self.duration = url, duration
        self.count = max(1, int(duration))
        # critical cases open only while their deadline (and a margin) still falls inside the load
        self.plans = plans(self.count, nonce, int(duration - budget_s - 3))
        self.due_at_of, self.escalated = due_at, escalated
        self.calls = Calls()
        self.short_due: dict[str, float] = {}
        """Critical cases' deadlines (epoch s) by workflow id."""
        self.opened: list[str] = []
        self.closed = 0
        self.repeats = self.duplicates = 0
        self.stream_events = self.stream_connects = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._rng = random.Random(SEED + 1)  # the console users' choices

    def _spawn(self, kind: str, work: Coroutine[Any, Any, None]) -> None:
        async def guarded() -> None:
            try:
                await work
            except Exception as err:  # a bug in the load itself counts too: it is never silent
                self.calls.error(kind, f"{type(err).__name__}: {err}")

        task = asyncio.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {TOKENS[token]}"} if token else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=httpx.Timeout(30, read=60))

    async def run(self, started: Callable[[], None], ending: Callable[[], Awaitable[None]]) -> None:
        """Sign the console users in, then run the load for `duration` s: `started()` as it begins,
        `await ending()` at its end while everything is still open; then what is in flight is cancelled."""
        async with contextlib.AsyncExitStack() as stack:
            intake = await stack.enter_async_context(self._client("intake"))
            agents = {name: await stack.enter_async_context(self._client(name)) for name in WORKERS}
            users = {name: await stack.enter_async_context(self._client()) for name in CONSOLE_USERS}
            live = await stack.enter_async_context(self._client())
            for name, http in [*users.items(), ("viewer", live)]:
                await self._sign_in(http, name)
            start = time.monotonic()
            started()
            for name, http in users.items():
                self._spawn("console", self._console_user(name, http, random.Random(self._rng.random())))
            self._spawn("live", self._live(live))
            try:
                for plan in self.plans:
                    await asyncio.sleep(max(0.0, start + plan.index - time.monotonic()))
                    self._spawn("case", self._case(plan, intake, agents[plan.agent]))
                await asyncio.sleep(max(0.0, start + self.duration - time.monotonic()))
                await ending()
            finally:
                tasks = list(self._tasks)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _sign_in(self, http: httpx.AsyncClient, name: str) -> None:
        page = await self.calls("console:login", http, "GET", "/login", 200, headers=HTML)
        found = re.search(r'name="csrf" value="([^"]+)"', page.text) if page is not None else None
        if found is None:
            raise RuntimeError(f"no sign-in form for {name} at {self.url}/login")
        form = {"csrf": found.group(1), "token": TOKENS[name], "next": "/"}
        if await self.calls("console:login", http, "POST", "/login", 303, data=form) is None:
            raise RuntimeError(f"{name} could not sign in to the console: {self.calls.samples[-1:]}")

    # ---- cases

    def _body(self, plan: Plan, event: str = "") -> dict[str, Any]:
        body = ticket(plan.customer).model_dump(mode="json")
        body["event_id"] += event
        if plan.short:
            body["severity"] = "critical"
        return body

    async def _case(self, plan: Plan, intake: httpx.AsyncClient, agent: httpx.AsyncClient) -> None:
        body = self._body(plan)
        response = await self.calls("intake", intake, "POST", "/v1/tickets", 202, json=body)
        if response is None:
            return
        result = response.json()
        if not result.get("created"):
            self.calls.error("intake", f"a new ticket did not open a case: {result}")
            return
        case_id, workflow_id = result["case_id"], result["workflow_id"]
        self.opened.append(case_id)
        if plan.short:
            due = await self.due_at_of(workflow_id)
            if due is None:
                self.calls.error("deadline", f"{workflow_id} has no deadline in the read model")
                return
            self.short_due[workflow_id] = due
            while self.escalated(workflow_id) is None:
                await asyncio.sleep(0.2)
        if plan.duplicate:
            again = await self.calls("intake:duplicate", intake, "POST", "/v1/tickets", 202, json=body)
            if again is not None and not again.json().get("duplicate"):
                self.calls.error("intake:duplicate", f"a redelivery was not a duplicate: {again.json()}")
            self.duplicates += 1
        for n, (path, step) in enumerate(STEPS):
            await asyncio.sleep(plan.thinks[n])
            if path == "follow-up" and not await self._follow_up_asked(agent, case_id):
                return
            url = f"/v1/complaints/{case_id}/{path}"
            if await self.calls(f"step:{path}", agent, "POST", url, 200, json=step) is None:
                return
            if n == 0 and plan.repeat:
                await self._repeat(plan, intake)
        self.closed += 1

    async def _repeat(self, plan: Plan, intake: httpx.AsyncClient) -> None:
        again = await self.calls("intake:repeat", intake, "POST", "/v1/tickets", 202, json=self._body(plan, "-again"))
        if again is not None:
            result = again.json()
            if result.get("created") or result.get("duplicate") or result.get("contact_count") != 2:
                self.calls.error("intake:repeat", f"a repeat contact was not the case's second contact: {result}")
            self.repeats += 1

    async def _follow_up_asked(self, agent: httpx.AsyncClient, case_id: str) -> bool:
        for _ in range(40):
            page = await self.calls("read:complaint", agent, "GET", f"/v1/complaints/{case_id}", 200)
            if page is None:
                return False
            if page.json()["deadlines"]["follow_up_asked"]:
                return True
            await asyncio.sleep(0.5)
        self.calls.error("read:complaint", f"{case_id}: the follow-up was not asked within 20 s")
        return False

    # ---- the console

    async def _console_user(self, name: str, http: httpx.AsyncClient, rng: random.Random) -> None:
        tabs = ["mine", "unassigned", "due", "escalated", "paused"] + (["approval"] if name in ("lena", "max") else [])
        while True:
            choice = rng.random()
            readable = self.opened[:-3]  # a case opened a few seconds ago is in the read model
            if choice < 0.45 or not readable:
                kind, url = "console:queue", f"/?tab={rng.choice(tabs)}"
            elif choice < 0.6:
                kind, url = "console:queue", f"/?tab=unassigned&severity={rng.choice(['critical', 'normal'])}"
            else:
                kind, url = "console:case", f"/cases/{rng.choice(readable[-50:])}"
            await self.calls(kind, http, "GET", url, 200, headers=HTML)
            await asyncio.sleep(rng.uniform(1.0, 3.0))

    async def _live(self, http: httpx.AsyncClient) -> None:
        while True:
            try:
                async with http.stream("GET", "/live", headers={"Accept": "text/event-stream"}) as response:
                    if response.status_code != 200:
                        self.calls.error("live", f"GET /live answered {response.status_code}")
                    else:
                        self.stream_connects += 1
                        async for line in response.aiter_lines():
                            if line.startswith("event: change"):
                                self.stream_events += 1
                        self.calls.error("live", "the live stream ended before the soak did")
            except httpx.HTTPError as err:
                self.calls.error("live", f"{type(err).__name__}: {err}")
            await asyncio.sleep(1.0)

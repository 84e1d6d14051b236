"""What the API is configured with (agents, intake sources, policy, task queue, database), and
the lazily connected Temporal client every router reaches through `temporal(request)`."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import Path, Request
from pydantic import BaseModel, ConfigDict
from temporalio.client import Client

from starter import intake
from starter.agents import AgentDirectory
from starter.api.errors import ApiError
from starter.cases import CASE_ID_PATTERN
from workflows.policy import Policy
from workflows.rules import PolicySet


class ApiSettings(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    agents: AgentDirectory
    intake: intake.IntakeConfig
    policy: Policy
    """The policy for roles and defaults (a policy set's default)."""
    policies: PolicySet | None = None
    """The policy set whose rules choose each new case's policy; None: `policy` for every case."""
    task_queue: str = "recovery"
    database: Callable[[], Awaitable[Any]] | None = None
    """Returns the asyncpg pool for reports (lazily created)."""
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    """The time webhooks are received at (signature windows, replay keys); tests move it."""
    timer: Callable[[], float] = time.monotonic
    """Seconds for the rate limits' windows (starter/api/ratelimit.py); tests move it."""
    links: Any = None
    """`recovery.links.Links` for the customer's case page (`/c/{token}`); None: every link is a 404."""
    roster: Any = None
    """The roster (`activities.roster.Roster`, `RECOVERY_ROSTER`): who may own a prevention action
    besides the agents; None: agents only."""
    oidc: Any = None
    """The console's OIDC sign-in (`console.oidc.OidcConfig`); None: from `RECOVERY_OIDC_*`, if set."""
    thresholds: Any = None
    """`starter.customer.answers.Thresholds`: which page scores are satisfied/unsatisfied (None: the
    policy's `[follow_up]` keys, or the deprecated RECOVERY_SATISFIED_AT / RECOVERY_UNSATISFIED_AT)."""


class TemporalClient:
    """`connect` called lazily and retried until it works, so the API starts (and /healthz answers
    503) while Temporal is still coming up."""

    def __init__(self, connect: Callable[[], Awaitable[Client]], task_queue: str | None = None):
        self._connect = connect
        self._task_queue = task_queue
        self._lock = asyncio.Lock()
        self._client: Client | None = None

    async def get(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    try:
                        client = await self._connect()
                    except Exception as err:
                        raise ApiError(503, "unavailable", f"Temporal is unreachable: {err}") from None
                    if self._task_queue is not None:
                        await _require_keys(client, self._task_queue)
                    self._client = client
        return self._client


async def _require_keys(client: Client, task_queue: str) -> None:
    """An API without the payload keys of its task queue's cases would write tickets in plain text."""
    from starter.codec_check import CodecMismatch, require_namespace_keys

    try:
        await require_namespace_keys(client, task_queue)
    except CodecMismatch as err:
        raise ApiError(503, "misconfigured", f"this API is misconfigured: {err}") from None


CaseId = Annotated[
    str, Path(pattern=CASE_ID_PATTERN, description="case key (customer:order or source:ticket) or workflow id")
]
"""A case in a route's path: refused with 422 before anything reaches Temporal."""


def settings_of(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


async def temporal(request: Request) -> Client:
    """The app's Temporal client (503 while Temporal is unreachable)."""
    client: TemporalClient = request.app.state.temporal
    return await client.get()


def settings_from_env() -> ApiSettings:
    from activities.roster import load_roster
    from activities.store import create_pool
    from recovery.links import Links
    from starter.agents import load_agents
    from starter.api.outage import CONNECT_TIMEOUT
    from starter.customer.answers import Thresholds
    from workflows.rules import load_policy_set

    pools: list[Any] = []
    lock = asyncio.Lock()

    async def database() -> Any:
        async with lock:
            if not pools:
                try:
                    # one of them listens for the console; a page never waits long on a dead server
                    pools.append(await create_pool(max_size=6, connect_timeout=CONNECT_TIMEOUT))
                except Exception as err:
                    raise ApiError(503, "unavailable", str(err)) from None
        return pools[0]

    policies = load_policy_set()
    return ApiSettings(
        agents=load_agents(),
        intake=intake.load_intake_config(),
        policy=policies.primary,
        policies=policies,
        task_queue=os.environ.get("RECOVERY_TASK_QUEUE", "recovery"),
        database=database,
        links=Links.from_env(),
        roster=load_roster(),
        thresholds=Thresholds.of(policies.primary),
    )

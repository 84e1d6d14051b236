"""The API in process for tests: settings over the test's database and Temporal client, and an httpx
client speaking to the app (no server, no port)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from temporalio.client import Client

from starter.agents import load_agents
from starter.api import ApiSettings, create_app
from starter.intake import IntakeConfig
from tests.helpers import fast_policy
from workflows.policy import Policy

DEV_AGENTS = Path(__file__).resolve().parents[1] / "starter" / "dev_agents.toml"


def api_settings(
    task_queue: str,
    pool: asyncpg.Pool | None,
    *,
    policy: Policy | None = None,
    intake: IntakeConfig | None = None,
    **more: Any,
) -> ApiSettings:
    """The development agents, `fast_policy()` unless told, and `pool` as the read model."""

    async def database() -> asyncpg.Pool | None:
        return pool

    return ApiSettings(
        agents=load_agents(str(DEV_AGENTS)),
        intake=intake or IntakeConfig(),
        policy=policy or fast_policy(),
        task_queue=task_queue,
        database=database if pool is not None else None,
        **more,
    )


@asynccontextmanager
async def api_client(settings: ApiSettings, client: Client) -> AsyncIterator[httpx.AsyncClient]:
    async def connect() -> Client:
        return client

    app = create_app(settings, connect)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        yield http

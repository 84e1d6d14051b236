"""The real stack for the console's browser tests, once per module: the dev server (session), a fresh
migrated PostgreSQL database, a worker, the API (with the console) served by uvicorn on a loopback
port, and Debian's chromium driven by Playwright (nothing is downloaded)."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import uvicorn
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.notifications import Notifier
from activities.store import migrate
from starter.agents import load_agents
from starter.api import ApiSettings, create_app
from starter.intake import IntakeConfig
from tests.conftest import _with_database
from tests.helpers import fast_policy, free_port
from worker import build_worker
from workflows.policy import Policy

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ESCALATING_ACK = "8s"
"""Critical cases in these tests must be acknowledged this fast: one escalates while a test watches."""


def console_policy() -> Policy:
    data = fast_policy(ack="1h", interval="1h").model_dump(mode="json")
    data["severities"]["critical"]["acknowledge"] = ESCALATING_ACK
    return Policy.model_validate(data)


@dataclass
class Stack:
    url: str
    client: Client
    task_queue: str
    policy: Policy
    db: asyncpg.Pool
    shots: Path


@pytest.fixture(scope="module")
async def stack(
    dev_env: WorkflowEnvironment, pg_server: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    async with open_stack(dev_env, pg_server, tmp_path_factory) as opened:
        yield opened


@asynccontextmanager
async def open_stack(
    dev_env: WorkflowEnvironment,
    pg_server: str,
    tmp_path_factory: pytest.TempPathFactory,
    oidc: Any = None,
    port: int | None = None,
) -> AsyncIterator[Stack]:
    """The stack itself; `oidc` (a `console.oidc.OidcConfig`) adds the console's OIDC sign-in, and
    `port` is where the API listens (the provider must know the redirect URI before it starts)."""
    name = f"console_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(pg_server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    pool = await asyncpg.create_pool(_with_database(pg_server, name), min_size=1, max_size=8)
    await migrate(pool)
    queue = f"console-{uuid.uuid4().hex[:8]}"
    policy = console_policy()

    async def database() -> asyncpg.Pool:
        return pool

    async def connect() -> Client:
        return dev_env.client

    settings = ApiSettings(
        agents=load_agents(str(ROOT / "starter" / "dev_agents.toml")),
        intake=IntakeConfig(),
        policy=policy,
        task_queue=queue,
        database=database,
        oidc=oidc,
    )
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, connect), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    shots = Path(os.environ.get("RECOVERY_SCREENSHOTS") or tmp_path_factory.mktemp("console-screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    async with build_worker(dev_env.client, pool=pool, queue=queue, notifier=Notifier()):
        serving = asyncio.create_task(server.serve())
        while not server.started:
            assert not serving.done(), "the API did not start"
            await asyncio.sleep(0.05)
        try:
            yield Stack(
                url=f"http://127.0.0.1:{port}",
                client=dev_env.client,
                task_queue=queue,
                policy=policy,
                db=pool,
                shots=shots,
            )
        finally:
            server.should_exit = True
            server.force_exit = True  # open event streams would otherwise hold the shutdown
            await asyncio.wait_for(serving, 15)
    print(f"\nconsole screenshots: {shots}")
    try:
        await asyncio.wait_for(pool.close(), 3)  # the console's LISTEN connection stays taken
    except TimeoutError:
        pool.terminate()
    admin = await asyncpg.connect(pg_server)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()

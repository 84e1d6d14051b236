"""Console sessions in PostgreSQL: two API replicas on one database share them, sign-out on one ends
the session on both and after a restart, an agent removed from the agents file loses every session,
expired rows are cleaned up, and an unreachable database is a 503, never a 500. (No Temporal: the
pages used here read only the database.)"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client

from activities.store import create_pool
from console.session import SESSION_COOKIE
from console.session_store import PgSessions
from starter.agents import AgentDirectory, load_agents
from starter.api import ApiSettings, create_app
from starter.api.outage import CONNECT_TIMEOUT
from starter.intake import IntakeConfig
from tests.helpers import fast_policy
from tests.tcp_proxy import DatabaseProxy

ROOT = Path(__file__).resolve().parents[2]
DEV_AGENTS = ROOT / "starter" / "dev_agents.toml"
ALICE, BOB = "dev-alice-0123456789", "dev-bob-0123456789ab"
HTML = {"Accept": "text/html"}

Replica = Callable[..., httpx.AsyncClient]


@pytest.fixture(autouse=True)
def shared_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECOVERY_CONSOLE_SECRET", "replicas-share-this-secret")


@pytest.fixture
async def replicas() -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """`replica(url, agents=None)`: a new API process (its own app and pool) on database `url`."""
    async with AsyncExitStack() as stack:

        def replica(url: str, agents: AgentDirectory | None = None) -> httpx.AsyncClient:
            pools: list[asyncpg.Pool] = []

            async def database() -> asyncpg.Pool:
                if not pools:
                    pools.append(await create_pool(url, max_size=2, connect_timeout=CONNECT_TIMEOUT))
                return pools[0]

            async def connect() -> Client:
                raise RuntimeError("no Temporal in these tests")

            async def close_pools() -> None:
                for pool in pools:
                    pool.terminate()

            settings = ApiSettings(
                agents=agents or load_agents(str(DEV_AGENTS)),
                intake=IntakeConfig(),
                policy=fast_policy(),
                task_queue="sessions",
                database=database,
            )
            app: FastAPI = create_app(settings, connect)
            http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
            stack.push_async_callback(close_pools)
            stack.push_async_callback(http.aclose)
            return http

        yield replica


async def sign_in(http: httpx.AsyncClient, token: str = ALICE) -> str:
    form = await http.get("/login", headers=HTML)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None, form.text
    signed = await http.post("/login", data={"csrf": csrf.group(1), "token": token, "next": "/"})
    assert signed.status_code == 303, signed.text
    cookie = http.cookies.get(SESSION_COOKIE)
    assert cookie
    return cookie


async def queue(http: httpx.AsyncClient, cookie: str) -> httpx.Response:
    return await http.get("/", headers={**HTML, "Cookie": f"{SESSION_COOKIE}={cookie}"})


def signed_out(answer: httpx.Response) -> bool:
    return answer.status_code == 303 and answer.headers["location"].startswith("/login")


async def log_out(http: httpx.AsyncClient, cookie: str) -> None:
    page = await queue(http, cookie)
    assert page.status_code == 200, page.text[:300]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    bye = await http.post("/logout", data={"csrf": csrf.group(1)}, headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
    assert bye.status_code == 303 and bye.headers["location"] == "/login?bye=1", bye.text


async def test_logout_on_one_replica_ends_the_session_on_every_replica_and_after_a_restart(
    replicas: Replica, db_url: str, db: asyncpg.Pool
) -> None:
    a, b = replicas(db_url), replicas(db_url)
    cookie = await sign_in(a)
    kept = await sign_in(replicas(db_url), BOB)
    assert (await queue(b, cookie)).status_code == 200  # signed in on A, served by B
    assert await db.fetchval("SELECT count(*) FROM console_sessions WHERE ended_at IS NULL") == 2
    assert ALICE not in cookie and BOB not in kept  # the cookie names the session, never the token

    await log_out(b, cookie)
    assert signed_out(await queue(a, cookie))
    assert signed_out(await queue(b, cookie))
    restarted = replicas(db_url)
    assert signed_out(await queue(restarted, cookie))
    assert (await queue(restarted, kept)).status_code == 200  # sessions outlive a restart; ended ones don't
    ended = await db.fetchval("SELECT ended_at FROM console_sessions WHERE agent = 'alice'")
    assert ended is not None


async def test_an_agent_removed_from_the_agents_file_loses_every_session(
    replicas: Replica, db_url: str, db: asyncpg.Pool, tmp_path: Path
) -> None:
    a = replicas(db_url)
    first, second = await sign_in(a), await sign_in(replicas(db_url))
    bob = await sign_in(a, BOB)
    without_alice = tmp_path / "agents.toml"
    without_alice.write_text(re.sub(r"\[agents\.alice\][^\[]*", "", DEV_AGENTS.read_text()))
    after = replicas(db_url, load_agents(str(without_alice)))  # restarted with the new file

    assert signed_out(await queue(after, first))
    assert await db.fetchval("SELECT count(*) FROM console_sessions WHERE agent = 'alice' AND ended_at IS NULL") == 0
    assert signed_out(await queue(a, second))  # ended everywhere, even where the old file is still loaded
    assert (await queue(after, bob)).status_code == 200


async def test_expired_sessions_are_deleted_on_sign_in_at_most_once_a_minute(db_url: str, db: asyncpg.Pool) -> None:
    now = [0.0]

    async def database() -> asyncpg.Pool:
        return db

    store = PgSessions(database, clock=lambda: now[0])
    insert_expired = (
        "INSERT INTO console_sessions (sid, agent, role, token_fp, expires_at) "
        "VALUES ($1, 'x', 'agent', '', to_timestamp(1))"
    )
    await db.execute(insert_expired, "old")
    await store.create("s1", "alice", "agent", "fp", 4102444800.0)
    assert await db.fetchval("SELECT count(*) FROM console_sessions WHERE sid = 'old'") == 0
    await db.execute(insert_expired, "old2")
    now[0] = 30.0
    await store.create("s2", "alice", "agent", "fp", 4102444800.0)
    assert await db.fetchval("SELECT count(*) FROM console_sessions WHERE sid = 'old2'") == 1  # not yet
    now[0] = 61.0
    await store.create("s3", "alice", "agent", "fp", 4102444800.0)
    assert await db.fetchval("SELECT count(*) FROM console_sessions WHERE sid = 'old2'") == 0
    assert (await store.lookup("old2")) is None and (await store.lookup("s3")) is not None


async def test_an_unreachable_database_while_checking_a_session_is_a_503(replicas: Replica, db_url: str) -> None:
    proxy = DatabaseProxy(db_url)
    await proxy.start()
    try:
        api = replicas(proxy.url)
        cookie = await sign_in(api)
        auth = {"Cookie": f"{SESSION_COOKIE}={cookie}"}
        await proxy.cut()
        for _ in range(2):  # the dead connection, then the open breaker
            page = await api.get("/reports", headers={**HTML, **auth})
            assert page.status_code == 503 and "Temporarily unavailable" in page.text, page.text[:300]
            live = await api.get("/live", headers=auth)
            assert live.status_code == 503 and live.json()["error"] == "database_unavailable", live.text
            bye = await api.post("/logout", data={"csrf": "x"}, headers=auth)
            assert bye.status_code == 503, bye.text[:300]
    finally:
        await proxy.close()

"""Several API processes against one Temporal and one PostgreSQL: two real `recovery api` processes on
their own ports (and one `recovery api --workers 2`) beside a worker process. A console session made on
one is valid on the other and a sign-out on either ends it on both; the live stream of each shows a
case's escalation; the same ticket posted to both at the same instant opens one case with one contact."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.store import migrate
from console.session import SESSION_COOKIE
from tests.helpers import WebhookReceiver, eventually, free_port

ROOT = Path(__file__).resolve().parents[2]
ALICE = "dev-alice-0123456789"
BEARER = {"Authorization": f"Bearer {ALICE}"}
HTML = {"Accept": "text/html"}
# The demo policy with critical cases due for acknowledgement 4 s after opening: they escalate then.
POLICY = (ROOT / "starter" / "demo_policy.toml").read_text().replace('acknowledge = "10s"', 'acknowledge = "4s"', 1)


@dataclass
class Stack:
    env: dict[str, str]
    db: asyncpg.Pool
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    async def api(self, *extra: str, env: dict[str, str] | None = None) -> str:
        """A `recovery api` process on a free port, once healthy; its URL."""
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "starter.cli", "api", "--port", str(port), *extra],
            cwd=ROOT,
            env=env or self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(process)
        url = f"http://127.0.0.1:{port}"

        async def healthy() -> bool:
            assert process.poll() is None, f"recovery api exited with {process.returncode}"
            with contextlib.suppress(httpx.HTTPError):
                async with httpx.AsyncClient(timeout=2) as http:
                    return (await http.get(f"{url}/healthz")).status_code == 200
            return False

        await eventually(healthy, timeout=60, interval=0.2)
        return url


async def _database(pg_server: str) -> str:
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    parts = urlsplit(pg_server)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    await migrate(pool)
    await pool.close()
    return url


@pytest.fixture(scope="module")
def notifications() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    yield server
    server.close()


@pytest.fixture(scope="module")
async def stack(
    dev_env: WorkflowEnvironment,
    pg_server: str,
    notifications: WebhookReceiver,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    """One database, one worker process and the environment every API process of this module gets."""
    policy_file = tmp_path_factory.mktemp("replicas") / "policy.toml"
    policy_file.write_text(POLICY)
    url = await _database(pg_server)
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "RECOVERY_TASK_QUEUE": f"replicas-{uuid.uuid4().hex[:6]}",
        "RECOVERY_AGENTS": str(ROOT / "starter" / "dev_agents.toml"),
        "RECOVERY_POLICY": str(policy_file),
        "RECOVERY_CONSOLE_SECRET": "every-replica-shares-this-secret",
        "RECOVERY_NOTIFY_WEBHOOK": notifications.url,
        "RECOVERY_LOG_LEVEL": "WARNING",
        "DATABASE_URL": url,
    }
    db = await asyncpg.create_pool(url, min_size=1, max_size=4)
    running = Stack(env, db)
    running.processes.append(
        subprocess.Popen(
            [sys.executable, "-m", "worker"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    )
    try:
        yield running
    finally:
        for process in running.processes:
            process.terminate()
        for process in running.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        await db.close()
        admin = await asyncpg.connect(pg_server)
        await admin.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path[1:]}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="module")
async def replicas(stack: Stack) -> tuple[str, str]:
    """Two `recovery api` processes, each on its own port, on the same Temporal and database."""
    first, second = await asyncio.gather(stack.api(), stack.api())
    return first, second


def ticket(name: str, severity: str = "low") -> dict[str, Any]:
    return {
        "source": "generic",
        "event_id": f"evt-{name}",
        "ticket_id": f"T-{name}",
        "customer": {"id": f"cust-{name}", "name": "Dana Example", "email": "dana@example.com"},
        "subject": "Wrong size shipped",
        "description": "Ordered M, got XXL.",
        "occurred_at": "2026-11-20T10:00:00+00:00",
        "severity": severity,
    }


async def sign_in(http: httpx.AsyncClient) -> str:
    form = await http.get("/login", headers=HTML)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None, form.text[:300]
    signed = await http.post("/login", data={"csrf": csrf.group(1), "token": ALICE, "next": "/"})
    assert signed.status_code == 303, signed.text[:300]
    cookie = signed.cookies.get(SESSION_COOKIE)
    assert cookie
    http.cookies.clear()  # every later request names the session explicitly
    return cookie


async def queue_page(http: httpx.AsyncClient, cookie: str) -> httpx.Response:
    return await http.get("/", headers={**HTML, "Cookie": f"{SESSION_COOKIE}={cookie}"})


def signed_out(answer: httpx.Response) -> bool:
    return answer.status_code == 303 and answer.headers["location"].startswith("/login")


async def test_a_session_made_on_one_replica_is_valid_on_the_other_and_a_logout_there_ends_it_on_both(
    replicas: tuple[str, str], stack: Stack
) -> None:
    async with httpx.AsyncClient(base_url=replicas[0]) as a, httpx.AsyncClient(base_url=replicas[1]) as b:
        cookie = await sign_in(a)
        assert (await queue_page(a, cookie)).status_code == 200
        page = await queue_page(b, cookie)  # made on A, served by B
        assert page.status_code == 200, page.text[:300]
        assert (await b.get("/live", headers={"Cookie": f"{SESSION_COOKIE}=forged"})).status_code == 401

        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        bye = await b.post("/logout", data={"csrf": csrf.group(1)}, headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
        assert bye.status_code == 303 and bye.headers["location"] == "/login?bye=1", bye.text[:300]
        assert signed_out(await queue_page(a, cookie))
        assert signed_out(await queue_page(b, cookie))
    assert await stack.db.fetchval("SELECT count(*) FROM console_sessions WHERE ended_at IS NOT NULL") >= 1


async def watch(url: str, cookie: str, workflow_id: str, ready: asyncio.Event, levels: list[int]) -> None:
    """A console page on `url`: on every `change` of the case in its live stream it reads the case again
    from that replica, recording the escalation level it shows."""
    async with (
        httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(5, read=None)) as http,
        http.stream("GET", "/live", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}) as stream,
    ):
        assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
        async for line in stream.aiter_lines():
            if line.startswith("retry:"):
                ready.set()  # the replica's LISTEN is in place before the first line
            if line == f"data: {workflow_id}":
                case = await http.get(f"/v1/complaints/{workflow_id}", headers=BEARER)
                assert case.status_code == 200, case.text
                levels.append(case.json()["escalation_level"])
                if levels[-1] >= 1:
                    return


async def test_the_live_stream_of_each_replica_shows_a_case_escalating(replicas: tuple[str, str], stack: Stack) -> None:
    name = f"live-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=replicas[0]) as a:
        cookie = await sign_in(a)  # one session for both pages: it is valid on either replica
        workflow_id = f"complaint-generic:T-{name}"
        ready = [asyncio.Event(), asyncio.Event()]
        levels: list[list[int]] = [[], []]
        watchers = [
            asyncio.create_task(watch(url, cookie, workflow_id, ready[i], levels[i])) for i, url in enumerate(replicas)
        ]
        try:
            await asyncio.wait_for(asyncio.gather(*(event.wait() for event in ready)), 30)
            opened = await a.post("/v1/tickets", json=ticket(name, "critical"), headers=BEARER)
            assert opened.status_code == 202, opened.text
            assert opened.json()["workflow_id"] == workflow_id
            # Critical cases are due for acknowledgement 4 s after opening: escalated after the streams opened.
            assert (
                await stack.db.fetchval("SELECT escalation_level FROM cases WHERE workflow_id = $1", workflow_id) == 0
            )
            await asyncio.wait_for(asyncio.gather(*watchers), 60)
        finally:
            for task in watchers:
                task.cancel()
    for seen in levels:
        assert seen and seen[-1] >= 1, levels  # each replica's page was told, and then showed the escalation
    escalated = "SELECT count(*) FROM events WHERE workflow_id = $1 AND type = 'escalated'"
    assert await stack.db.fetchval(escalated, workflow_id) >= 1


async def test_a_ticket_posted_to_both_replicas_at_once_opens_one_case_with_one_contact(
    replicas: tuple[str, str], stack: Stack
) -> None:
    batch = uuid.uuid4().hex[:6]
    async with httpx.AsyncClient(base_url=replicas[0]) as a, httpx.AsyncClient(base_url=replicas[1]) as b:
        for n in range(20):
            body = ticket(f"dup-{batch}-{n}")
            answers = await asyncio.gather(
                a.post("/v1/tickets", json=body, headers=BEARER), b.post("/v1/tickets", json=body, headers=BEARER)
            )
            assert [r.status_code for r in answers] == [202, 202], [r.text for r in answers]
            results = [r.json() for r in answers]
            assert sorted(r["created"] for r in results) == [False, True], results
            assert [r["contact_count"] for r in results] == [1, 1], results
            assert results[0]["workflow_id"] == results[1]["workflow_id"]
            for http in (a, b):
                case = await http.get(f"/v1/complaints/{results[0]['case_id']}", headers=BEARER)
                assert case.status_code == 200 and case.json()["contact_count"] == 1, case.text
    rows = await stack.db.fetch(
        "SELECT c.contact_count, (SELECT count(*) FROM events e WHERE e.workflow_id = c.workflow_id "
        "AND e.type IN ('opened', 'contact_added')) AS contacts FROM cases c WHERE c.case_id LIKE $1",
        f"generic:T-dup-{batch}-%",
    )
    assert len(rows) == 20
    assert all(row["contact_count"] == 1 and row["contacts"] == 1 for row in rows), rows


async def test_api_workers_share_one_port_and_one_console_secret(stack: Stack) -> None:
    """`recovery api --workers 2` with no RECOVERY_CONSOLE_SECRET: the cookie signed by one process
    works on every new connection, whichever process accepts it."""
    env = {key: value for key, value in stack.env.items() if key != "RECOVERY_CONSOLE_SECRET"}
    url = await stack.api("--workers", "2", env=env)
    supervisor = stack.processes[-1]

    async def two_workers() -> bool:
        children = await asyncio.to_thread(children_of, supervisor.pid)
        assert len(children) == 2, children
        return True

    await eventually(two_workers, timeout=30)
    async with httpx.AsyncClient(base_url=url) as first:
        cookie = await sign_in(first)
    for _ in range(12):  # a new connection each time: the kernel hands it to either process
        async with httpx.AsyncClient(base_url=url) as fresh:
            assert (await queue_page(fresh, cookie)).status_code == 200
            created = await fresh.post("/v1/tickets", json=ticket(f"w-{uuid.uuid4().hex[:6]}"), headers=BEARER)
            assert created.status_code == 202, created.text


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (uvicorn's spawned workers, minus multiprocessing's tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"resource_tracker" not in cmdline:
                found.append(int(entry.name))
    return found

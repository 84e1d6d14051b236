"""Figure (l)'s timings: the API and console app served by uvicorn on a loopback port, read over HTTP
by a signed-in team lead, and every SQL statement of each measured request captured (asyncpg's query
logger on the app's pool) and explained under `EXPLAIN (ANALYZE, FORMAT JSON)`."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn
from temporalio.client import Client

from bench.common import free_port, summary
from starter.agents import load_agents
from starter.api import ApiSettings, create_app
from starter.intake import IntakeConfig
from workflows.policy import Policy

DEV_AGENTS = Path(__file__).resolve().parents[1] / "starter" / "dev_agents.toml"
LENA_TOKEN = "dev-lena-0123456789a"
"""The development team lead (starter/dev_agents.toml): console session and API bearer token."""
EXPLAIN_TIMEOUT_S = 60.0


class Statements:
    """The SQL each connection of the app's pool runs while `capturing` (the requests are one at a time)."""

    def __init__(self) -> None:
        self.capturing = False
        self.seen: list[tuple[str, tuple[Any, ...]]] = []

    def log(self, record: Any) -> None:
        if self.capturing and record.exception is None:
            self.seen.append((record.query, tuple(record.args or ())))

    async def init(self, conn: asyncpg.Connection) -> None:
        conn.add_query_logger(self.log)

    def take(self) -> list[tuple[str, tuple[Any, ...]]]:
        seen, self.seen, self.capturing = self.seen, [], False
        return seen


@asynccontextmanager
async def serve(database_url: str, client: Client, policy: Policy) -> AsyncIterator[tuple[str, Statements]]:
    """The app (`create_app`, as `recovery api` builds it) on a loopback port over `database_url`."""
    statements = Statements()
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=10, init=statements.init)
    assert pool is not None

    async def database() -> asyncpg.Pool:
        return pool

    async def connect() -> Client:
        return client

    settings = ApiSettings(agents=load_agents(str(DEV_AGENTS)), intake=IntakeConfig(), policy=policy, database=database)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, connect), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                raise RuntimeError("the API did not start")
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}", statements
    finally:
        server.should_exit = server.force_exit = True  # the console's event streams would hold the shutdown
        await asyncio.wait_for(serving, 15)
        try:
            await asyncio.wait_for(pool.close(), 3)  # the console's LISTEN connection stays taken
        except TimeoutError:
            pool.terminate()


async def sign_in(http: httpx.AsyncClient, token: str) -> None:
    """The console's sign-in form, as a browser sends it (the session cookie stays in `http`)."""
    form = await http.get("/login")
    found = re.search(r'name="csrf" value="([^"]+)"', form.text)
    if found is None:
        raise RuntimeError("the sign-in page has no form token")
    answer = await http.post("/login", data={"csrf": found.group(1), "token": token, "zone": "UTC", "next": "/"})
    if answer.status_code != 303:
        raise RuntimeError(f"sign-in refused: {answer.status_code} {answer.text[:200]}")


async def timed(
    http: httpx.AsyncClient,
    statements: Statements,
    method: str,
    path: str,
    runs: int,
    warm_up: int,
    body: Any = None,
) -> dict[str, Any]:
    """`runs` requests after `warm_up` unmeasured ones (the first of them with its SQL captured)."""
    times: list[float] = []
    sql: list[tuple[str, tuple[Any, ...]]] = []
    size = 0
    for n in range(warm_up + runs):
        statements.capturing = n == 0
        t0 = time.perf_counter()
        response = await http.request(method, path, json=body)
        elapsed = time.perf_counter() - t0
        if n == 0:
            sql = statements.take()
        if response.status_code != 200:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        size = len(response.content)
        if n >= warm_up:
            times.append(elapsed)
    stats = summary([t * 1000 for t in times])
    return {
        "path": path,
        "ms": {k: round(v, 1) if isinstance(v, float) else v for k, v in stats.items()},
        "p95_ms": round(stats["p95"], 1),
        "bytes": size,
        "sql": sql,
    }


def walk(node: dict[str, Any], indexes: list[str], seq_scans: list[str]) -> None:
    if "Index Name" in node:
        indexes.append(f"{node['Index Name']}")
    if node.get("Node Type") == "Seq Scan":
        seq_scans.append(node.get("Relation Name", "?"))
    for child in node.get("Plans", []):
        walk(child, indexes, seq_scans)


_RELATION = re.compile(r"\b(?:FROM|JOIN)\s+([a-z_]+)", re.IGNORECASE)
_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "SET", "LISTEN", "UNLISTEN", "RESET")


def label(sql: str, tables: set[str]) -> str:
    """A statement's name in the tables: the tables it reads, in order."""
    names = [name for name in _RELATION.findall(sql) if name in tables]
    return "+".join(dict.fromkeys(names)) or " ".join(sql.split()[:2])


async def explain(pool: asyncpg.Pool, statements: list[tuple[str, tuple[Any, ...]]]) -> list[dict[str, Any]]:
    """Each read statement under EXPLAIN (ANALYZE, FORMAT JSON) with its captured arguments, in a
    read-only transaction; writes (the session's touch) are listed, not run again."""
    out: list[dict[str, Any]] = []
    async with pool.acquire() as conn:
        tables = {
            r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        for sql, args in statements:
            head = sql.lstrip().split(None, 1)[0].upper().rstrip(";")
            if head in _CONTROL or "pg_advisory_unlock_all" in sql:
                continue  # a transaction's frame or the pool's reset of a released connection, not a query
            if head not in ("SELECT", "WITH") or not any(t in sql for t in tables):
                out.append({"sql": _short(sql), "label": label(sql, tables), "explained": False})
                continue
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                await conn.execute(f"SET LOCAL statement_timeout = {int(EXPLAIN_TIMEOUT_S * 1000)}")
                raw = await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, *args)
            plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]
            indexes: list[str] = []
            seq_scans: list[str] = []
            walk(plan["Plan"], indexes, seq_scans)
            out.append(
                {
                    "sql": _short(sql),
                    "label": label(sql, tables),
                    "explained": True,
                    "execution_ms": round(plan["Execution Time"], 2),
                    "planning_ms": round(plan["Planning Time"], 2),
                    "rows": plan["Plan"].get("Actual Rows"),
                    "top_node": plan["Plan"]["Node Type"],
                    "indexes": sorted(set(indexes)),
                    "seq_scans": sorted(set(seq_scans)),
                    "plan": plan["Plan"] if plan["Execution Time"] > 50 else None,
                }
            )
    return out


def _short(sql: str) -> str:
    return " ".join(sql.split())[:600]


def plan_summary(explained: list[dict[str, Any]]) -> dict[str, Any]:
    read = [q for q in explained if q["explained"]]
    return {
        "statements": len(explained),
        "sql_ms": round(sum(q["execution_ms"] for q in read), 2),
        "slowest": max(read, key=lambda q: q["execution_ms"])["label"] if read else None,
        "indexes": sorted({i for q in read for i in q["indexes"]}),
        "seq_scans": sorted({s for q in read for s in q["seq_scans"]}),
    }

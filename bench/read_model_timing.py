"""Figure (l)'s measurement (`figure_l`): N cases seeded (`bench.read_model`) in a database of their own,
the API and console app served by uvicorn on a loopback port and read over HTTP by a signed-in team
lead, every SQL statement of each measured request captured (asyncpg's query logger on the app's pool)
and explained under `EXPLAIN (ANALYZE, FORMAT JSON)`, then the simulator over every stored case."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import uvicorn
from temporalio.client import Client

from activities.store import migrate
from bench.common import free_port, say, summary
from bench.read_model import CHUNK, ME, now_utc, seed, workflow_id
from console import readmodel
from starter.agents import load_agents
from starter.api import ApiSettings, create_app
from starter.intake import IntakeConfig
from workflows.models import case_id_of, workflow_id_for
from workflows.policy import Policy
from workflows.policy_files import load_policy

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


# ---- the figure ---------------------------------------------------------------------------------

RUNS = 20
"""Timed requests per page, after WARM_UP unmeasured ones."""
WARM_UP = 2
REPORT_RUNS = 5
FILTERED_TAB = "due"
"""The filters are timed on this tab: every open case with a running deadline is in it."""


def queue_paths(due_cases: int) -> dict[str, str]:
    """Every queue tab, each filter (on the due tab) and its combination, page 2 and the last page."""
    last = max(1, -(-due_cases // readmodel.PAGE_SIZE))
    tab = f"/?tab={FILTERED_TAB}"
    return {
        **{f"tab {name}": f"/?tab={name}" for name in readmodel.TABS},
        "severity=critical": f"{tab}&severity=critical",
        "step=fix": f"{tab}&step=fix",
        "source=proactive": f"{tab}&source=proactive",
        "customer=cust-0001 (prefix)": f"{tab}&customer=cust-0001",
        "severity+step+source": f"{tab}&severity=high&step=compensate&source=email",
        "unassigned, source=proactive": "/?tab=unassigned&source=proactive",
        "due, page 2": f"{tab}&page_no=2",
        f"due, last page ({last})": f"{tab}&page_no={last}",
    }


async def fresh_database(url: str, name: str) -> str:
    """A new database `name` on the server of `url` (the figure's read model holds only its cases)."""
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _explained(pool: asyncpg.Pool, timing: dict[str, Any]) -> dict[str, Any]:
    queries = await explain(pool, timing.pop("sql"))
    return timing | {"queries": queries, "plan": plan_summary(queries)}


async def list_pages(api: httpx.AsyncClient, statements: Statements, pool: asyncpg.Pool) -> dict[str, Any]:
    """`GET /v1/complaints`: the first page, the page its token leads to and one far in, and the filters."""
    out: dict[str, Any] = {}
    first = (await api.get("/v1/complaints", params={"page_size": 50})).json()
    out["first page"] = await _explained(
        pool, await timed(api, statements, "GET", "/v1/complaints?page_size=50", RUNS, WARM_UP)
    )
    token, pages = first.get("next_page_token"), 1
    if token:
        out["page 2"] = await _explained(
            pool, await timed(api, statements, "GET", f"/v1/complaints?page_size=50&page_token={token}", RUNS, WARM_UP)
        )
    while token and pages < 20:  # a page far in: follow the tokens
        page = (await api.get("/v1/complaints", params={"page_size": 50, "page_token": token})).json()
        token, pages = page.get("next_page_token"), pages + 1
    if token:
        out["page 21"] = await _explained(
            pool, await timed(api, statements, "GET", f"/v1/complaints?page_size=50&page_token={token}", RUNS, WARM_UP)
        )
    for name, query in (
        ("step=fix", "step=fix"),
        ("severity=critical&escalated=true", "severity=critical&escalated=true"),
        ("customer=cust-00042", "customer=cust-00042"),
    ):
        out[name] = await _explained(
            pool, await timed(api, statements, "GET", f"/v1/complaints?{query}", RUNS, WARM_UP)
        )
    out["listed_on_first_page"] = len(first.get("complaints", []))
    return out


async def simulation(pool: asyncpg.Pool, policy: Policy) -> dict[str, Any]:
    """`recovery policy simulate`'s path over every stored case: one read, replayed on 2 processes."""
    from activities.store.history import _HISTORIES, load_history_rows
    from bench.simulation import candidate_policy
    from workflows.simulation import format_simulation, simulate_stored

    started = time.perf_counter()
    rows = await load_history_rows(pool)
    read = time.perf_counter() - started
    report = simulate_stored(rows, candidate_policy(policy), workers=min(2, os.cpu_count() or 1))
    format_simulation(report)
    wall = time.perf_counter() - started
    queries = await explain(pool, [(_HISTORIES, (None, None))])
    return {
        "s": round(wall, 2),
        "read_s": round(read, 2),
        "simulate_s": round(wall - read, 2),
        "cases": report.totals.cases,
        "changed_cases": report.totals.changed,
        "queries": queries,
        "plan": plan_summary(queries),
    }


async def figure_l(
    database_url: str, client: Client, n: int, concurrency: int, case_events: int, nonce: str
) -> dict[str, Any]:
    """Figure (l) over N cases; its value is the slowest queue page's p95 (ms)."""
    url = await fresh_database(database_url, f"readmodel_{nonce}")
    pool = await asyncpg.create_pool(url, min_size=1, max_size=concurrency + 2)
    assert pool is not None
    try:
        await migrate(pool)
        policy = load_policy(None)
        now = now_utc()
        say(f"(l): seeding {n} cases through the projection, {CHUNK} per transaction on {concurrency} connections")
        seeded = await seed(pool, policy, n, concurrency, nonce, now, case_events)
        say(f"(l): seeded in {seeded['seed_s']} s ({seeded['cases_per_s']} cases/s); {seeded['states']}")
        due = (await readmodel.counts(pool, ME.id, readmodel.Filters()))[FILTERED_TAB]
        big = case_id_of(workflow_id(nonce, 0))
        async with (
            serve(url, client, policy) as (base, statements),
            httpx.AsyncClient(base_url=base, timeout=300) as console,
            httpx.AsyncClient(base_url=base, timeout=300, headers={"Authorization": f"Bearer {LENA_TOKEN}"}) as api,
        ):
            await sign_in(console, LENA_TOKEN)
            queue = {}
            for name, path in queue_paths(due).items():
                queue[name] = await _explained(pool, await timed(console, statements, "GET", path, RUNS, WARM_UP))
            say(f"(l): queue pages timed; worst p95 {max(q['p95_ms'] for q in queue.values())} ms")
            case_page = await _explained(pool, await timed(console, statements, "GET", f"/cases/{big}", RUNS, WARM_UP))
            api_case = await _explained(
                pool, await timed(api, statements, "GET", f"/v1/complaints/{big}", RUNS, WARM_UP)
            )
            listing = await list_pages(api, statements, pool)
            sla = await _explained(pool, await timed(api, statements, "GET", "/v1/reports/sla", REPORT_RUNS, 1))
            say(f"(l): case page p95 {case_page['p95_ms']} ms, SLA report p95 {sla['p95_ms']} ms; simulating")
        simulated = await simulation(pool, policy)
        events = await pool.fetchval("SELECT count(*) FROM events WHERE workflow_id = $1", workflow_id_for(big))
    finally:
        await pool.close()
    worst = max(queue, key=lambda k: queue[k]["p95_ms"])
    pages = {k: v for k, v in listing.items() if isinstance(v, dict)}
    everything = [*queue.values(), case_page, api_case, *pages.values(), sla, simulated]
    return {
        "value": queue[worst]["p95_ms"],
        "unit": "ms (p95, the slowest queue page)",
        "cases": n,
        "seeding": seeded,
        "queue": queue,
        "queue_worst": worst,
        "case_page": case_page,
        "case_events": events,
        "api_case": api_case,
        "list": listing,
        "list_worst": max(pages, key=lambda k: pages[k]["p95_ms"]),
        "sla": sla,
        "simulation": simulated,
        "runs": RUNS,
        "indexes": sorted({i for t in everything for i in t["plan"]["indexes"]}),
        "seq_scans": sorted({s for t in everything for s in t["plan"]["seq_scans"]}),
    }

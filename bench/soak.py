"""The soak: a real `recovery api` (which serves the console too) and a real `recovery worker`, each a
subprocess on the bench's dev server and PostgreSQL, under the fixed mixed load of `bench.soak_load`
for `--minutes`.

Sampled from the start of the load, every 30 s (every tenth of the run when shorter than 5 minutes),
and once more at its end: the VmRSS and open file descriptors (/proc/<pid>/fd) of the API and the worker,
the file descriptors of every PostgreSQL process, PostgreSQL's client connections (pg_stat_activity)
and the open cases in the read model. A critical case's lateness is when its escalation notice started
in the worker (the worker's `notification` log line) minus its acknowledge deadline (its status in the
read model).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx

from activities.store.projection import stored_status
from bench.common import ROOT, free_port, rss_kib, say, subprocess_env, summary
from bench.procs import CpuMeter, Groups, busy_cpu_seconds, load_average
from bench.soak_load import Load
from bench.storm_workers import EscalationLog
from bench.subprocesses import stop
from workflows.policy_files import default_policy_text


def soak_policy_text(budget_s: int) -> str:
    """The packaged default policy on the wall clock: `critical` cases must be acknowledged within
    `budget_s`, every other step and severity has an hour; the follow-up is asked 1 s after compensation."""
    text = default_policy_text()
    head, rest = text.split("[severities.critical]", 1)
    tail = rest[rest.index("[escalation]") :]
    severities = "".join(
        f'[severities.{name}]\nclock = "wall"\nacknowledge = "{f"{budget_s}s" if name == "critical" else "1h"}"\n'
        'fix = "1h"\ncompensate = "1h"\nfollow_up = "1s"\nclose = "1h"\n\n'
        for name in ("critical", "high", "normal", "low")
    )
    return head + severities + tail


def fd_count(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


class Exited(RuntimeError):
    """A subprocess that exited before it was ready."""


def named(database_url: str, application: str) -> str:
    """`database_url` with an `application_name` (asyncpg passes it on as a server setting), so
    pg_stat_activity tells whose pool a connection is."""
    return database_url + ("&" if urlsplit(database_url).query else "?") + f"application_name={application}"


async def _started(command: list[str], env: dict[str, str], log: Path, ready: Any) -> subprocess.Popen[bytes]:
    """`command` as a subprocess logging to `log`, once `await ready(proc)` is true (within 60 s)."""
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not await ready(proc):
        if proc.poll() is not None:
            raise Exited(f"{' '.join(command[2:4])} exited with code {proc.returncode}; see {log}")
        if time.monotonic() > deadline:
            proc.terminate()
            raise RuntimeError(f"{' '.join(command[2:4])} was not ready within 60 s; see {log}")
        await asyncio.sleep(0.2)
    return proc


@asynccontextmanager
async def api_and_worker(
    address: str, database_url: str, queue: str, policy: Path, tmp: Path
) -> AsyncIterator[tuple[subprocess.Popen[bytes], subprocess.Popen[bytes], str, Path]]:
    """`recovery api` on a free port and `recovery worker` on `queue`, started side by side: the API,
    the worker, the API's URL and the worker's log."""
    cli = [sys.executable, "-m", "starter.cli"]
    base = subprocess_env(RECOVERY_POLICY=str(policy))
    base.pop("RECOVERY_INTAKE", None)
    base.pop("RECOVERY_METRICS_ADDRESS", None)
    worker_log, api_log = tmp / "soak-worker.log", tmp / "soak-api.log"
    worker_log.write_bytes(b"")
    api_env = dict(
        base,
        DATABASE_URL=named(database_url, "soak-api"),
        RECOVERY_AGENTS=str(ROOT / "starter" / "dev_agents.toml"),
        RECOVERY_LOG_LEVEL="WARNING",
    )
    urls: list[str] = []

    async def api_ready(_proc: Any) -> bool:
        try:
            async with httpx.AsyncClient() as http:
                return (await http.get(f"{urls[-1]}/healthz", timeout=2)).status_code == 200
        except httpx.HTTPError:
            return False

    async def start_api() -> subprocess.Popen[bytes]:
        # on a shared machine another process may bind the free port first: the API exits, try another
        for attempt in range(3):
            port = free_port()
            urls.append(f"http://127.0.0.1:{port}")
            command = [*cli, "api", "--host", "127.0.0.1", "--port", str(port), "--address", address]
            try:
                return await _started([*command, "--task-queue", queue], api_env, api_log, api_ready)
            except Exited:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def worker_ready(_proc: Any) -> bool:
        return b"worker started" in worker_log.read_bytes()

    worker_cmd = [*cli, "worker", "--address", address, "--task-queue", queue]
    worker_env = dict(base, DATABASE_URL=named(database_url, "soak-worker"), RECOVERY_LOG_LEVEL="INFO")
    started = await asyncio.gather(
        start_api(),
        _started(worker_cmd, worker_env, worker_log, worker_ready),
        return_exceptions=True,
    )
    procs = [p for p in started if isinstance(p, subprocess.Popen)]
    try:
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome
        yield procs[0], procs[1], urls[-1], worker_log
    finally:
        await asyncio.gather(*(stop(p) for p in procs))


class Sampler:
    """The soak's resource samples, on one PostgreSQL connection of its own."""

    def __init__(self, conn: asyncpg.Connection, api: int, worker: int, groups: Groups):
        self.conn, self.api, self.worker, self.groups = conn, api, worker, groups
        self.lock = asyncio.Lock()  # the connection is shared with the deadline reads
        self.samples: list[dict[str, Any]] = []
        self.t0 = time.monotonic()

    async def sample(self) -> None:
        async with self.lock:
            row = await self.conn.fetchrow(
                "SELECT count(*) FILTER (WHERE backend_type = 'client backend') AS clients, count(*) AS backends "
                "FROM pg_stat_activity"
            )
            owners = await self.conn.fetch(
                "SELECT coalesce(nullif(application_name, ''), 'other') AS owner, count(*) AS n "
                "FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 1 ORDER BY 1"
            )
            open_cases = await self.conn.fetchval("SELECT count(*) FROM cases WHERE closed_at IS NULL")
        postgres = self.groups["postgres"]()
        self.samples.append(
            {
                "t_s": round(time.monotonic() - self.t0, 1),
                "rss_kib": {"api": rss_kib(self.api), "worker": rss_kib(self.worker)},
                "fds": {
                    "api": fd_count(self.api),
                    "worker": fd_count(self.worker),
                    "postgres": sum(fd_count(pid) or 0 for pid in postgres),
                },
                "postgres_processes": len(postgres),
                "pg_connections": row["clients"],
                "pg_connections_by_owner": {r["owner"].removeprefix("soak-"): r["n"] for r in owners},
                "pg_backends": row["backends"],
                "open_cases": open_cases,
            }
        )

    async def every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds - (time.monotonic() - self.t0) % seconds)
            await self.sample()

    async def due_at(self, workflow_id: str) -> float | None:
        """The case's current deadline from the read model, waiting for its first snapshot (10 s at most)."""
        for _ in range(100):
            async with self.lock:
                status = await stored_status(self.conn, workflow_id)
            if status is not None and status.deadlines.due_at is not None:
                return status.deadlines.due_at.timestamp()
            await asyncio.sleep(0.1)
        return None


async def figure_soak(address: str, database_url: str, tmp: Path, groups: Groups, minutes: float) -> dict[str, Any]:
    duration = minutes * 60
    budget_s = int(min(20, max(2, round(duration / 3))))
    interval = 30.0 if duration >= 300 else max(0.5, duration / 10)
    nonce = uuid.uuid4().hex[:6]
    policy = tmp / "soak-policy.toml"
    policy.write_text(soak_policy_text(budget_s))
    async with api_and_worker(address, database_url, f"soak-{nonce}", policy, tmp) as (api, worker, url, log):
        say(
            f"soak: API {url} (pid {api.pid}), worker pid {worker.pid}; "
            f"{minutes:g} min of load, critical budget {budget_s}s"
        )
        conn = await asyncpg.connect(named(database_url, "soak-sampler"))
        escalations = EscalationLog(log)
        sampler = Sampler(conn, api.pid, worker.pid, groups)
        meter = CpuMeter(
            {
                "api": lambda: [api.pid],
                "worker": lambda: [worker.pid],
                **{k: groups[k] for k in ("temporal", "postgres")},
                "load": lambda: [os.getpid()],
            }
        )
        soak = Load(url, duration, budget_s, nonce, sampler.due_at, lambda w: escalations.escalations.get(w))

        async def read_log() -> None:
            while True:
                escalations.read()
                await asyncio.sleep(0.25)

        background: list[asyncio.Task[None]] = [asyncio.create_task(read_log())]

        def started() -> None:
            sampler.t0 = time.monotonic()
            cpu["machine_busy"] = -busy_cpu_seconds()
            meter.start()
            background.append(asyncio.create_task(sampler.every(interval)))

        async def ending() -> None:
            background[-1].cancel()
            await sampler.sample()  # the end of the load, its clients and stream still open
            cpu.update(meter.stop())
            cpu["machine_busy"] = round(cpu["machine_busy"] + busy_cpu_seconds(), 1)
            load["load_average"] = load_average()

        cpu: dict[str, float] = {}
        load: dict[str, Any] = {}
        try:
            await sampler.sample()
            await soak.run(started, ending)
            # escalations due in the last seconds: their notice may still be on its way
            grace = time.time() + 10
            while time.time() < grace and any(w not in escalations.read() for w in soak.short_due):
                await asyncio.sleep(0.25)
        finally:
            for task in background:
                task.cancel()
            await conn.close()
    return result(soak, sampler.samples, escalations.escalations, cpu, duration, budget_s, interval) | {
        "load_average_at_end": load.get("load_average")
    }


def _at(samples: list[dict[str, Any]], t: float) -> dict[str, Any]:
    return min(samples, key=lambda s: abs(s["t_s"] - t))


def _halves(samples: list[dict[str, Any]], half: float, value: Any) -> dict[str, Any]:
    """A quantity's highest value before and from the half-way sample, the growth between them, and
    the samples (their time, connections by owner, fds by process) where each highest value was."""
    first = [s for s in samples if s["t_s"] < half]
    second = [s for s in samples if s["t_s"] >= half]
    tops = [max(part, key=value) if part else None for part in (first, second)]
    a, b = (None if top is None else value(top) for top in tops)
    return {
        "max_first_half": a,
        "max_second_half": b,
        "growth": None if a is None or b is None else b - a,
        "at_maxima": [
            None
            if top is None
            else {
                "t_s": top["t_s"],
                "pg_connections_by_owner": top.get("pg_connections_by_owner"),
                "fds": top["fds"],
                "postgres_processes": top["postgres_processes"],
            }
            for top in tops
        ],
    }


def result(
    load: Load,
    samples: list[dict[str, Any]],
    escalations: dict[str, float],
    cpu: dict[str, float],
    duration: float,
    budget_s: int,
    interval: float,
) -> dict[str, Any]:
    calls = load.calls
    every = [x for kind, xs in calls.latency.items() for x in xs]
    ms = {"all": _ms(summary(every))} | {kind: _ms(summary(xs)) for kind, xs in sorted(calls.latency.items())}
    half, end = _at(samples, duration / 2), samples[-1]
    rss = {}
    for proc in ("api", "worker"):
        a, b = half["rss_kib"][proc], end["rss_kib"][proc]
        rss[proc] = {"at_half_kib": a, "at_end_kib": b, "growth_pct": round(100 * (b - a) / a, 2)}
    fds = {
        "api+worker": _halves(samples, half["t_s"], lambda s: (s["fds"]["api"] or 0) + (s["fds"]["worker"] or 0)),
        "postgres": _halves(samples, half["t_s"], lambda s: s["fds"]["postgres"]),
    }
    for group in fds.values():
        if group["growth"] is not None and group["max_first_half"]:
            group["growth_pct"] = round(100 * group["growth"] / group["max_first_half"], 2)
    late = [escalations[w] - due for w, due in load.short_due.items() if w in escalations]
    return {
        "value": ms["all"]["p95"],
        "unit": "ms (API p95, every request of the load)",
        "minutes": round(duration / 60, 3),
        "sample_interval_s": interval,
        "critical_budget_s": budget_s,
        "load": {
            "cases_opened": len(load.opened),
            "critical_cases": len(load.short_due),
            "cases_closed": load.closed,
            "repeat_contacts": load.repeats,
            "duplicate_deliveries": load.duplicates,
            "steps": sum(len(xs) for kind, xs in calls.latency.items() if kind.startswith("step:")),
            "console_pages": sum(
                len(xs) for kind, xs in calls.latency.items() if kind in ("console:queue", "console:case")
            ),
            "requests": len(every),
            "requests_per_s": round(len(every) / duration, 2),
            "stream_events": load.stream_events,
            "stream_connects": load.stream_connects,
        },
        "api_latency_ms": ms,
        "statuses": {kind: dict(c) for kind, c in sorted(calls.statuses.items())},
        "errors": calls.errors,
        "error_samples": calls.samples,
        "rss": rss,
        "pg_connections": _halves(samples, half["t_s"], lambda s: s["pg_connections"]),
        "fds": fds,
        "open_cases": {"at_half": half["open_cases"], "at_end": end["open_cases"]},
        "postgres_processes": {"at_half": half["postgres_processes"], "at_end": end["postgres_processes"]},
        "deadline_lateness_s": summary(late),
        "escalations_missing": len(load.short_due) - len(late),
        "cpu_seconds": cpu,
        "samples": samples,
        "method": "a real `recovery api` and `recovery worker` as subprocesses; latency = every request's round trip "
        "from the load's httpx clients (the live stream excepted); RSS growth = the sample nearest half-way vs the "
        "last; flat = PostgreSQL's client connections never higher after half-way than before it, the open fds "
        "(API + worker, and all PostgreSQL processes) at most 10 % higher; lateness = escalation notice start in "
        "the worker (its log) - the case's acknowledge deadline (read model)",
    }


def _ms(s: dict[str, Any]) -> dict[str, Any]:
    return {k: (round(1000 * v, 1) if isinstance(v, float) and k != "n" else v) for k, v in s.items()}

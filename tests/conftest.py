"""Fixtures: the real Temporal dev server (one per session), the time-skipping test server (one
per test that asks), a worker on a unique task queue, and a loopback notification receiver."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from workflows.converter import data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notifications import Notifier
from starter.binaries import find_binary
from tests.helpers import WebhookReceiver
from worker import build_worker
from workflows import search_attributes as sa

_INDEXED = {
    "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "INT": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "DATETIME": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
}


CONTINUE_AS_NEW_AT = 300


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary("temporal"),
        search_attributes=sa.ALL,
        data_converter=data_converter,
        dev_server_extra_args=[
            "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
            # Low enough that a test can drive a case into continue-as-new, above any other test's history.
            "--dynamic-config-value", f"limit.historyCount.suggestContinueAsNew={CONTINUE_AS_NEW_AT}",
        ],
    )
    async with env:
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
async def worker(client: Client, task_queue: str, receiver: WebhookReceiver) -> AsyncIterator[Worker]:
    async with build_worker(client, queue=task_queue, notifier=Notifier(receiver.url)) as running:
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
    await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=client.namespace,
        search_attributes={key.name: _INDEXED[key.indexed_value_type.name] for key in sa.ALL},
    ))

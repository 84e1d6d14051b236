"""/metrics exposes the engine's own counters after a case escalates."""

from __future__ import annotations

import asyncpg
import httpx
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.testing import WorkflowEnvironment

from activities.notifications import Notifier
from recovery.converter import data_converter
from starter.cases import open_case
from tests.helpers import eventually, fast_policy, ticket
from tests.starter.test_dev_stack import free_port
from worker import build_worker


async def test_metrics_endpoint_shows_engine_counters_after_an_escalation(
    dev_env: WorkflowEnvironment, task_queue: str, db: asyncpg.Pool, receiver
) -> None:
    port = free_port()
    runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"127.0.0.1:{port}")))
    client = await Client.connect(
        dev_env.client.service_client.config.target_host, runtime=runtime, data_converter=data_converter
    )
    async with build_worker(client, pool=db, queue=task_queue, notifier=Notifier(receiver.url)):
        await open_case(
            client, ticket("metrics", customer="cust-metrics"), fast_policy(ack="2s", interval="1s"), task_queue
        )

        async def scraped() -> str:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            return text if "recovery_escalations{" in text and 'level="3"' in text else ""

        text = await eventually(scraped, timeout=30)

    assert "recovery_cases_opened{" in text and 'source="generic"' in text
    assert "recovery_breaches{" in text and 'step="acknowledge"' in text
    assert "temporal_workflow_task_execution_latency" in text or "temporal_request" in text

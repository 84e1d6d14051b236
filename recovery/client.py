"""The Temporal client connection, configured by envconfig, and the process's metrics runtime.

Connection comes from a Temporal envconfig profile (`TEMPORAL_PROFILE`, `TEMPORAL_CONFIG_FILE`)
or the plain variables `TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`, `TEMPORAL_TLS*`,
so the same worker, CLI and API run against the local dev server, a cluster or Temporal Cloud.
"""

from __future__ import annotations

import os

from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from recovery.codec import codec_from_env, data_converter_with_codec

DEFAULT_TASK_QUEUE = "recovery"


def task_queue() -> str:
    return os.environ.get("RECOVERY_TASK_QUEUE", DEFAULT_TASK_QUEUE)


_runtime: list[Runtime] = []


def metrics_runtime() -> Runtime | None:
    """One runtime per process exporting SDK and engine metrics to Prometheus at
    `RECOVERY_METRICS_ADDRESS` (host:port, serving /metrics); None when it is unset."""
    address = os.environ.get("RECOVERY_METRICS_ADDRESS")
    if not address:
        return None
    if not _runtime:
        _runtime.append(Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address))))
    return _runtime[0]


async def connect(address: str | None = None, namespace: str | None = None) -> Client:
    """A client with the pydantic data converter, configured by envconfig (profile, file, env)."""
    config = ClientConfig.load_client_connect_config(profile=os.environ.get("TEMPORAL_PROFILE"))
    if address:
        config["target_host"] = address
    if namespace:
        config["namespace"] = namespace
    config.setdefault("target_host", "localhost:7233")
    # With RECOVERY_CODEC_KEYS set, payloads (and failures) are AES-GCM encrypted before they leave.
    converter = data_converter_with_codec(codec_from_env())
    return await Client.connect(**config, data_converter=converter, runtime=metrics_runtime())

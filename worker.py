"""The recovery worker: runs ComplaintWorkflow and PreventionActionWorkflow and their activities on
the `recovery` task queue.

The connection (envconfig profile or TEMPORAL_* variables) and the metrics runtime come from
`recovery.client`, so the same worker runs against the local dev server, a cluster or Temporal Cloud.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import asyncpg
import structlog
from temporalio.client import Client
from temporalio.worker import Interceptor, Worker, WorkerDeploymentConfig

from activities.carried import PlanAndProject
from activities.cause_alerts import CauseAlerts
from activities.cause_feed import CauseWatchFeed
from activities.channels.email import EmailConfigError
from activities.compensation import Compensator
from activities.notifications import Notifier
from activities.prevention import PreventionStore
from activities.roster import RosterError
from activities.store import DatabaseError, create_pool, require_migrated, stop_embedded
from activities.store.projection import Projector
from recovery.client import connect, task_queue
from recovery.codec import EncryptionCodec
from recovery.logs import configure_logging
from recovery.sandbox import sharing_workflow_modules
from recovery.versioning import build_id, deployment_config, deployment_name
from workflows.cause_watch import CauseWatchWorkflow
from workflows.complaint import ComplaintWorkflow
from workflows.learning import LearningPolicy
from workflows.policy import PolicyError
from workflows.policy_files import load_policy
from workflows.prevention import PreventionActionWorkflow

log = structlog.get_logger("worker")


def build_worker(
    client: Client,
    *,
    pool: asyncpg.Pool,
    queue: str | None = None,
    notifier: Notifier | None = None,
    compensator: Compensator | None = None,
    max_cached_workflows: int = 10000,
    interceptors: Sequence[Interceptor] = (),
    versioning: bool = True,
    deployment: WorkerDeploymentConfig | None = None,
    workflows: Sequence[type] = (ComplaintWorkflow, CauseWatchWorkflow, PreventionActionWorkflow),
    learning: LearningPolicy | None = None,
) -> Worker:
    """The worker of this build. `versioning=True` (production): it joins the Worker Deployment
    `deployment_name()` as version `build_id()` (recovery/versioning.py), and cases it starts stay
    pinned to this build; `deployment` names another version (tests of two builds side by side).
    `versioning=False` for servers without deployments (the time-skipping test server).
    `learning`: the repeat-mistake alert rules (default: the policy file's `[[learning.alerts]]`)."""
    notifier = notifier or Notifier.from_env(pool)
    codec = client.data_converter.payload_codec
    if codec is not None:
        notifier.log_bodies = False  # encrypted payloads: no message text in (unencrypted) logs
    if notifier.store is None:
        notifier.store = pool  # the customer-message log the console reads
    compensator = compensator or Compensator.from_env(pool)
    queue = queue or task_queue()
    learning = learning if learning is not None else load_policy().learning
    closes = CauseWatchFeed(client, queue, learning)
    projector = Projector(pool, codec if isinstance(codec, EncryptionCodec) else None, closes)
    return Worker(
        client,
        task_queue=queue,
        workflows=list(workflows),
        # Shared by all runs instead of re-executed per run: a cached case keeps less; and no exec per
        # payload for its serialization context (recovery.sandbox).
        workflow_runner=sharing_workflow_modules(*workflows),
        activities=[
            *notifier.activities,
            compensator.issue_compensation,
            projector.project_events,
            PlanAndProject(notifier, projector).plan_and_project,
            CauseAlerts(notifier).plan_cause_alert,
            PreventionStore(pool).project_prevention,
        ],
        # Open cases sit mostly idle on timers; a cache below their number costs 2-3x throughput.
        max_cached_workflows=max_cached_workflows,
        interceptors=interceptors,
        graceful_shutdown_timeout=timedelta(seconds=10),
        deployment_config=deployment or deployment_config(versioning),
    )


async def run_worker(
    stop: asyncio.Event | None = None, handle_signals: bool = True, max_cached_workflows: int | None = None
) -> None:
    """Run until `stop` is set (or SIGTERM/SIGINT, unless the caller handles signals itself); the
    workflow cache as `build_worker` sizes it unless `max_cached_workflows` is given."""
    configure_logging(os.environ.get("RECOVERY_LOG_LEVEL", "INFO"))
    stop = stop or asyncio.Event()
    if handle_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    pool = await create_pool()
    try:
        await require_migrated(pool)
        client = await connect()
        options: dict[str, Any] = {}
        if max_cached_workflows is not None:
            options["max_cached_workflows"] = max_cached_workflows
        worker = build_worker(client, pool=pool, **options)
        log.info(
            "worker started",
            task_queue=task_queue(),
            namespace=client.namespace,
            deployment=deployment_name(),
            build_id=build_id(),
            **options,
        )
        async with worker:
            await stop.wait()
            log.info("worker stopping: finishing in-flight tasks")
    finally:
        await pool.close()
    log.info("worker stopped")


def main() -> int:
    try:
        asyncio.run(run_worker())
    except (DatabaseError, RosterError, EmailConfigError, PolicyError) as err:
        print(f"recovery worker: error: {err}", file=sys.stderr)
        return 1
    finally:
        stop_embedded()
    return 0


if __name__ == "__main__":
    sys.exit(main())

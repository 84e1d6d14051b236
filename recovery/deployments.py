"""The Worker Deployment calls behind `recovery deploy`: status, promote, drain (starter/cli/deploy.py
formats them).

* A version (build) appears in its deployment when one of its workers first polls.
* `promote` makes a build the deployment's current version: new cases start on it. It returns
  once the server reports the routing change propagated to every task queue of the deployment.
* Open cases stay pinned to the build that started them. `drain` sends each running case pinned
  to a build the `nudge` signal: the case sees that its deployment's target version changed and
  continues as new onto the current build at once instead of at its next timer. The old build's
  workers must still run to process the nudge.

Case counts come from visibility: running `ComplaintWorkflow` executions whose
`TemporalWorkerDeploymentVersion` is `<deployment>:<build>` and whose behavior is Pinned.
"""

from __future__ import annotations

import asyncio
import time

from pydantic import BaseModel
from temporalio.api.deployment.v1 import WorkerDeploymentInfo
from temporalio.api.enums.v1 import RoutingConfigUpdateState, WorkerDeploymentVersionStatus
from temporalio.api.workflowservice.v1 import (
    CountWorkflowExecutionsRequest,
    DescribeWorkerDeploymentRequest,
    ListWorkflowExecutionsRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

WORKFLOW_TYPE = "ComplaintWorkflow"
NUDGE_SIGNAL = "nudge"
POLL_INTERVAL = 0.1
RENUDGE_EVERY = 5.0  # a case whose nudge came before the new target reached its history shard
_NUDGE_CONCURRENCY = 20


class DeploymentError(Exception):
    """A deployment call the server refused, or a build it does not know: one line."""


class VersionStatus(BaseModel):
    build_id: str
    status: str  # current | ramping | draining | drained | inactive
    ramp_percentage: float | None = None  # only for the ramping version
    running_cases: int


class DeploymentStatus(BaseModel):
    deployment: str
    current_build: str | None
    ramping_build: str | None
    ramp_percentage: float | None
    versions: list[VersionStatus]


class DrainResult(BaseModel):
    deployment: str
    build_id: str
    nudged: int
    left: int


def version_key(deployment: str, build: str) -> str:
    """The version as visibility's TemporalWorkerDeploymentVersion holds it (Server 1.32: `:`)."""
    return f"{deployment}:{build}"


def pinned_cases_query(deployment: str, build: str, workflow_type: str = WORKFLOW_TYPE) -> str:
    if "'" in build or "\\" in build or "'" in deployment or "\\" in deployment:
        raise DeploymentError(f"{deployment}:{build}: a deployment name or build id cannot contain quotes")
    return (
        f"WorkflowType = '{workflow_type}' AND ExecutionStatus = 'Running'"
        f" AND TemporalWorkerDeploymentVersion = '{version_key(deployment, build)}'"
        " AND TemporalWorkflowVersioningBehavior = 'Pinned'"
    )


async def describe(client: Client, deployment: str) -> WorkerDeploymentInfo:
    try:
        response = await client.workflow_service.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=deployment)
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise DeploymentError(
                f"no worker deployment {deployment!r} in namespace {client.namespace!r} "
                "(it appears when a versioned worker first polls)"
            ) from None
        raise DeploymentError(f"describing deployment {deployment!r} failed: {err.message}") from None
    return response.worker_deployment_info


def _builds(info: WorkerDeploymentInfo) -> list[str]:
    return [v.deployment_version.build_id for v in info.version_summaries]


async def running_cases(client: Client, deployment: str, build: str, workflow_type: str = WORKFLOW_TYPE) -> int:
    """Running cases pinned to `build`."""
    try:
        response = await client.workflow_service.count_workflow_executions(
            CountWorkflowExecutionsRequest(
                namespace=client.namespace, query=pinned_cases_query(deployment, build, workflow_type)
            )
        )
    except RPCError as err:
        raise DeploymentError(f"counting the cases of build {build!r} failed: {err.message}") from None
    return response.count


_STATUS = {
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_CURRENT: "current",
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_RAMPING: "ramping",
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINING: "draining",
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINED: "drained",
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_INACTIVE: "inactive",
}


async def status(client: Client, deployment: str, workflow_type: str = WORKFLOW_TYPE) -> DeploymentStatus:
    info = await describe(client, deployment)
    routing = info.routing_config
    current = routing.current_deployment_version.build_id or None
    ramping = routing.ramping_deployment_version.build_id or None
    ramp = routing.ramping_version_percentage if ramping else None
    versions = []
    for summary in sorted(info.version_summaries, key=lambda v: v.create_time.ToDatetime(), reverse=True):
        build = summary.deployment_version.build_id
        role = "current" if build == current else "ramping" if build == ramping else _STATUS.get(summary.status, "")
        versions.append(
            VersionStatus(
                build_id=build,
                status=role or "inactive",
                ramp_percentage=ramp if build == ramping else None,
                running_cases=await running_cases(client, deployment, build, workflow_type),
            )
        )
    return DeploymentStatus(
        deployment=deployment, current_build=current, ramping_build=ramping, ramp_percentage=ramp, versions=versions
    )


async def wait_for_version(client: Client, deployment: str, build: str, timeout: float = 30.0) -> None:
    """Until `build` is a version of `deployment` (its first worker polled), with a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if build in _builds(await describe(client, deployment)):
                return
            missing = f"build {build!r} has not polled deployment {deployment!r}"
        except DeploymentError as err:
            missing = str(err)
        if time.monotonic() > deadline:
            raise DeploymentError(f"{missing} within {timeout:.0f}s: is a worker of that build running?")
        await asyncio.sleep(POLL_INTERVAL)


async def wait_propagated(client: Client, deployment: str, timeout: float = 30.0) -> None:
    """Until the deployment's routing (current and ramping version) reached all its task queues."""
    deadline = time.monotonic() + timeout
    completed = RoutingConfigUpdateState.ROUTING_CONFIG_UPDATE_STATE_COMPLETED
    while (await describe(client, deployment)).routing_config_update_state != completed:
        if time.monotonic() > deadline:
            raise DeploymentError(f"the routing of deployment {deployment!r} did not propagate within {timeout:.0f}s")
        await asyncio.sleep(POLL_INTERVAL)


async def promote(client: Client, deployment: str, build: str, timeout: float = 30.0) -> str | None:
    """Make `build` the current version; returns the build that was current before (None if none,
    `build` itself if it already was)."""
    info = await describe(client, deployment)
    if build not in _builds(info):
        known = ", ".join(sorted(_builds(info))) or "none"
        raise DeploymentError(
            f"no build {build!r} in deployment {deployment!r} (builds: {known}); start its workers first"
        )
    if info.routing_config.current_deployment_version.build_id == build:
        return build  # already current
    try:
        response = await client.workflow_service.set_worker_deployment_current_version(
            SetWorkerDeploymentCurrentVersionRequest(
                namespace=client.namespace, deployment_name=deployment, build_id=build, identity=client.identity
            )
        )
    except RPCError as err:
        raise DeploymentError(f"promoting build {build!r} of deployment {deployment!r} failed: {err.message}") from None
    await wait_propagated(client, deployment, timeout)
    return response.previous_deployment_version.build_id or None


async def make_current(client: Client, deployment: str, build: str, timeout: float = 30.0) -> None:
    """Make `build` current before any of its workers polled (creating the deployment if need be):
    for a fresh server (tests, benchmarks). One current version covers every task queue its
    workers poll later, so this is done once per server, not per worker or queue."""
    try:
        await client.workflow_service.set_worker_deployment_current_version(
            SetWorkerDeploymentCurrentVersionRequest(
                namespace=client.namespace,
                deployment_name=deployment,
                build_id=build,
                identity=client.identity,
                allow_no_pollers=True,
            )
        )
    except RPCError as err:
        raise DeploymentError(f"promoting build {build!r} of deployment {deployment!r} failed: {err.message}") from None
    await wait_propagated(client, deployment, timeout)


async def _pinned_runs(client: Client, query: str) -> list[tuple[str, str]]:
    runs: list[tuple[str, str]] = []
    token = b""
    while True:
        try:
            page = await client.workflow_service.list_workflow_executions(
                ListWorkflowExecutionsRequest(
                    namespace=client.namespace, query=query, page_size=1000, next_page_token=token
                )
            )
        except RPCError as err:
            raise DeploymentError(f"listing the cases to drain failed: {err.message}") from None
        runs += [(e.execution.workflow_id, e.execution.run_id) for e in page.executions]
        token = page.next_page_token
        if not token:
            return runs


async def nudge_all(client: Client, deployment: str, build: str, workflow_type: str = WORKFLOW_TYPE) -> int:
    """Send `nudge` to every running case pinned to `build` (each run exactly: a case that already
    continued as new is not nudged again). Returns how many were nudged."""
    runs = await _pinned_runs(client, pinned_cases_query(deployment, build, workflow_type))
    limit = asyncio.Semaphore(_NUDGE_CONCURRENCY)

    async def nudge(workflow_id: str, run_id: str) -> int:
        async with limit:
            try:
                await client.get_workflow_handle(workflow_id, run_id=run_id).signal(NUDGE_SIGNAL)
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:  # closed since it was listed
                    return 0
                raise DeploymentError(f"nudging case {workflow_id} failed: {err.message}") from None
            return 1

    return sum(await asyncio.gather(*(nudge(w, r) for w, r in runs)))


async def drain(
    client: Client,
    deployment: str,
    build: str,
    wait: float = 60.0,
    workflow_type: str = WORKFLOW_TYPE,
    renudge_every: float = RENUDGE_EVERY,
) -> DrainResult:
    """Nudge every running case pinned to `build` onto the current build, then poll until none is
    left or `wait` seconds passed; nudges what is left again every `renudge_every` seconds."""
    info = await describe(client, deployment)
    if build not in _builds(info):
        known = ", ".join(sorted(_builds(info))) or "none"
        raise DeploymentError(f"no build {build!r} in deployment {deployment!r} (builds: {known})")
    routing = info.routing_config
    if build == routing.current_deployment_version.build_id:
        raise DeploymentError(f"build {build!r} is the current version: promote the new build first")
    if build == routing.ramping_deployment_version.build_id:
        raise DeploymentError(f"build {build!r} is ramping: new cases still start on it")
    # The case sees the new target only once the routing reached its task queue.
    await wait_propagated(client, deployment)
    deadline = time.monotonic() + wait
    nudged = await nudge_all(client, deployment, build, workflow_type)
    next_nudge = time.monotonic() + renudge_every
    while True:
        left = await running_cases(client, deployment, build, workflow_type)
        if left == 0 or time.monotonic() > deadline:
            return DrainResult(deployment=deployment, build_id=build, nudged=nudged, left=left)
        if time.monotonic() > next_nudge:
            await nudge_all(client, deployment, build, workflow_type)
            next_nudge = time.monotonic() + renudge_every
        await asyncio.sleep(POLL_INTERVAL)

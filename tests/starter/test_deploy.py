"""`recovery deploy status | promote | drain` against the real dev server, and the pinning of the
real worker's cases.

Each test has its own deployment (the session's `recovery` deployment keeps this build current
for every other test) and a tiny pinned stand-in for the complaint workflow, registered under its
name: on `nudge` it continues as new onto the current build when its target version changed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkerDeploymentConfig

from recovery.versioning import build_id, deployment_name
from starter.cases import open_case
from tests.helpers import eventually, fast_policy, ticket
from tests.starter.test_cli import address, arecovery, assert_one_line_error


@workflow.defn(name="ComplaintWorkflow", versioning_behavior=VersioningBehavior.PINNED)
class PinnedCase:
    """Waits; on `nudge` moves to the current build if that changed (unless `stubborn`)."""

    def __init__(self) -> None:
        self.nudged = False

    @workflow.run
    async def run(self, stubborn: bool, generation: int) -> None:
        while True:
            await workflow.wait_condition(lambda: self.nudged)
            self.nudged = False
            if not stubborn and workflow.info().is_target_worker_deployment_version_changed():
                workflow.continue_as_new(
                    args=[stubborn, generation + 1],
                    initial_versioning_behavior=workflow.ContinueAsNewVersioningBehavior.AUTO_UPGRADE,
                )

    @workflow.signal
    def nudge(self) -> None:
        self.nudged = True

    @workflow.query
    def build(self) -> str:
        version = workflow.info().get_current_deployment_version()
        return version.build_id if version else ""


@asynccontextmanager
async def worker_of(client: Client, deployment: str, build: str, queue: str) -> AsyncIterator[Worker]:
    config = WorkerDeploymentConfig(version=WorkerDeploymentVersion(deployment, build), use_worker_versioning=True)
    async with Worker(
        client,
        task_queue=queue,
        workflows=[PinnedCase],
        workflow_runner=UnsandboxedWorkflowRunner(),
        deployment_config=config,
    ) as running:
        yield running


async def deploy(client: Client, deployment: str, *args: str) -> Any:
    result = await arecovery("deploy", *args, *address(client), "--deployment", deployment)
    return result


async def status_of(client: Client, deployment: str) -> dict[str, Any]:
    result = await deploy(client, deployment, "status", "--json")
    assert result.returncode == 0, result
    return json.loads(result.stdout)


def cases_by_build(report: dict[str, Any]) -> dict[str, tuple[str, int]]:
    return {v["build_id"]: (v["status"], v["running_cases"]) for v in report["versions"]}


async def start_cases(client: Client, queue: str, count: int, stubborn: bool = False) -> list[str]:
    ids = []
    for _ in range(count):
        handle = await client.start_workflow(
            PinnedCase.run, args=[stubborn, 0], id=f"deploy-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        ids.append(handle.id)
    return ids


async def test_status_and_promote_show_and_move_the_current_build(client: Client) -> None:
    deployment, queue = f"dep-{uuid.uuid4().hex[:6]}", f"deploy-{uuid.uuid4().hex[:6]}"
    async with worker_of(client, deployment, "b1", queue):
        missing = await deploy(client, deployment, "promote", "b2")
        assert_one_line_error(missing, 1, "no build 'b2'", "b1")
        await eventually(lambda: _polled(client, deployment, "b1"))
        promoted = await deploy(client, deployment, "promote", "b1")
        assert promoted.returncode == 0, promoted
        assert "build b1 is current" in promoted.stdout
        await start_cases(client, queue, 2)

        async def two_on_b1() -> bool:
            report = await status_of(client, deployment)
            assert report["current_build"] == "b1"
            assert cases_by_build(report) == {"b1": ("current", 2)}
            return True

        await eventually(two_on_b1)
        text = await deploy(client, deployment, "status")
        assert text.returncode == 0 and "b1" in text.stdout and "current" in text.stdout, text

        async with worker_of(client, deployment, "b2", queue):
            await eventually(lambda: _polled(client, deployment, "b2"))
            promoted = await deploy(client, deployment, "promote", "b2", "--json")
            assert promoted.returncode == 0, promoted
            assert json.loads(promoted.stdout) == {
                "deployment": deployment,
                "current_build": "b2",
                "previous_build": "b1",
            }
            report = await status_of(client, deployment)
            assert report["current_build"] == "b2"
            assert cases_by_build(report) == {"b2": ("current", 0), "b1": ("draining", 2)}
            # The current build cannot be drained; an unknown one is named with the known ones.
            assert_one_line_error(await deploy(client, deployment, "drain", "b2"), 1, "current version")
            assert_one_line_error(await deploy(client, deployment, "drain", "b9"), 1, "no build 'b9'", "b1, b2")


async def test_drain_of_a_build_without_cases_exits_0(client: Client) -> None:
    deployment, queue = f"dep-{uuid.uuid4().hex[:6]}", f"deploy-{uuid.uuid4().hex[:6]}"
    async with worker_of(client, deployment, "b1", queue), worker_of(client, deployment, "b2", queue):
        await eventually(lambda: _polled(client, deployment, "b1", "b2"))
        assert (await deploy(client, deployment, "promote", "b2")).returncode == 0
        drained = await deploy(client, deployment, "drain", "b1", "--wait", "5")
        assert drained.returncode == 0, drained
        assert "0 left" in drained.stdout


async def test_drain_moves_every_pinned_case_onto_the_current_build(client: Client) -> None:
    deployment, queue = f"dep-{uuid.uuid4().hex[:6]}", f"deploy-{uuid.uuid4().hex[:6]}"
    async with worker_of(client, deployment, "b1", queue):
        await eventually(lambda: _polled(client, deployment, "b1"))
        assert (await deploy(client, deployment, "promote", "b1")).returncode == 0
        cases = await start_cases(client, queue, 3)
        stubborn = await start_cases(client, queue, 1, stubborn=True)

        async def four_on_b1() -> bool:
            return cases_by_build(await status_of(client, deployment)) == {"b1": ("current", 4)}

        await eventually(four_on_b1)
        async with worker_of(client, deployment, "b2", queue):
            await eventually(lambda: _polled(client, deployment, "b2"))
            assert (await deploy(client, deployment, "promote", "b2")).returncode == 0
            # One case ignores the nudge: the drain gives up after --wait with the count left.
            partial = await deploy(client, deployment, "drain", "b1", "--wait", "3", "--json")
            assert_one_line_error(partial, 1, "1 cases still pinned to build b1")
            assert json.loads(partial.stdout)["left"] == 1
            for case in cases:
                description = await client.get_workflow_handle(case).describe()
                info = description.raw_description.workflow_execution_info
                assert info.versioning_info.deployment_version.build_id == "b2"
                assert await client.get_workflow_handle(case).query(PinnedCase.build) == "b2"
            await client.get_workflow_handle(stubborn[0]).terminate("test over")
            drained = await deploy(client, deployment, "drain", "b1", "--wait", "10")
            assert drained.returncode == 0, drained
            assert "0 left" in drained.stdout
            report = await status_of(client, deployment)
            assert cases_by_build(report)["b1"][1] == 0
            assert cases_by_build(report)["b2"] == ("current", 3)


async def test_the_real_worker_pins_its_cases_to_this_build(
    client: Client, worker: Worker, task_queue: str, db: asyncpg.Pool
) -> None:
    key = uuid.uuid4().hex[:6]
    opened = await open_case(client, ticket(f"pin-{key}", customer=f"cust-pin-{key}"), fast_policy(), task_queue)

    async def pinned() -> Any:
        description = await client.get_workflow_handle(opened.workflow_id).describe()
        versioning = description.raw_description.workflow_execution_info.versioning_info
        assert versioning.deployment_version.build_id, "no workflow task completed yet"
        return versioning

    versioning = await eventually(pinned)
    assert versioning.behavior == VersioningBehavior.PINNED.value
    assert versioning.deployment_version.deployment_name == deployment_name()
    assert versioning.deployment_version.build_id == build_id()


async def _polled(client: Client, deployment: str, *builds: str) -> bool:
    from recovery.deployments import DeploymentError, describe

    try:
        info = await describe(client, deployment)
    except DeploymentError:
        return False
    return set(builds) <= {v.deployment_version.build_id for v in info.version_summaries}

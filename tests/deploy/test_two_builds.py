"""Two builds side by side on the dev server: cases started on build A move onto build B by
continue-as-new, through their own next task or a nudge, with nothing lost or doubled.

Build B really differs: its workflow records one more event when a case continues onto it."""

from __future__ import annotations

import uuid
from collections import Counter

import asyncpg
from temporalio import workflow
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError
from temporalio.worker import WorkerDeploymentConfig

from activities.notifications import Notifier
from activities.store.projection import stored_events
from recovery.deployments import wait_propagated
from starter.cases import open_case, run_step
from tests.helpers import AGENT, WebhookReceiver, eventually, fast_policy, ticket
from worker import build_worker
from workflows.complaint import CaseStart, ComplaintWorkflow
from workflows.models import AcknowledgeInput, CaseStatus, CompensateInput, DomainEvent, FixInput, IgnoredEventInput

POLICY = fast_policy(ack="30d", fix="30d", compensate="30d", follow_up="30d", max_silence="30d")


@workflow.defn(name="ComplaintWorkflow")
class ComplaintWorkflowB(ComplaintWorkflow):
    """Build B: a case that continues onto it says so in its timeline."""

    @workflow.init
    def __init__(self, start: CaseStart) -> None:
        super().__init__(start)
        if start.state is not None:
            self.case.record_ignored(
                IgnoredEventInput(
                    event_id=f"moved-to-b:{start.state.seq}",
                    source="generic",
                    rule="build-b",
                    step=start.state.step.value,
                    reason="continued on build B",
                ),
                workflow.now(),
            )

    @workflow.run
    async def run(self, start: CaseStart) -> CaseStatus:
        return await super().run(start)


def version(deployment: str, build: str) -> WorkerDeploymentConfig:
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(deployment, build),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.PINNED,
    )


async def promote(client: Client, deployment: str, build: str) -> None:
    async def known() -> bool:
        try:
            described = await client.workflow_service.describe_worker_deployment(
                DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=deployment)
            )
        except RPCError:
            return False
        return any(v.deployment_version.build_id == build for v in described.worker_deployment_info.version_summaries)

    await eventually(known, timeout=30)
    await client.workflow_service.set_worker_deployment_current_version(
        SetWorkerDeploymentCurrentVersionRequest(
            namespace=client.namespace, deployment_name=deployment, build_id=build, ignore_missing_task_queues=True
        )
    )
    # A case started before the routing reached the task queue would be pinned to the old build.
    await wait_propagated(client, deployment)


async def pinned_to(client: Client, workflow_id: str) -> str:
    described = await client.get_workflow_handle(workflow_id).describe()
    return described.raw_description.workflow_execution_info.versioning_info.deployment_version.build_id


async def test_cases_on_build_a_move_to_build_b_with_nothing_lost_or_doubled(
    client: Client, db: asyncpg.Pool, receiver: WebhookReceiver
) -> None:
    deployment = f"two-builds-{uuid.uuid4().hex[:6]}"
    queue = f"two-builds-{uuid.uuid4().hex[:6]}"
    notifier = Notifier(receiver.url)
    ids: list[str] = []
    async with build_worker(client, pool=db, queue=queue, notifier=notifier, deployment=version(deployment, "A")):
        await promote(client, deployment, "A")
        for n in range(20):  # 20 cases, in four different steps
            key = f"tb-{uuid.uuid4().hex[:6]}-{n}"
            opened = await open_case(client, ticket(key, customer=key), POLICY, queue)
            ids.append(opened.workflow_id)
            if n % 4 >= 1:
                await run_step(client, opened.case_id, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
            if n % 4 >= 2:
                await run_step(
                    client, opened.case_id, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="sent")
                )
            if n % 4 >= 3:
                refund = CompensateInput(
                    actor=AGENT, kind="refund", amount={"amount": "10.00", "currency": "USD"}, reason="sorry"
                )
                await run_step(client, opened.case_id, ComplaintWorkflow.compensate, refund)
        assert {await pinned_to(client, w) for w in ids} == {"A"}

        async with build_worker(
            client,
            pool=db,
            queue=queue,
            notifier=notifier,
            deployment=version(deployment, "B"),
            workflows=(ComplaintWorkflowB,),
        ):
            await promote(client, deployment, "B")
            fresh = await open_case(client, ticket(f"tb-new-{uuid.uuid4().hex[:6]}"), POLICY, queue)
            await eventually(lambda: _on(client, fresh.workflow_id, "B"), timeout=30)
            # Half have a next task of their own (an agent's step), half are only nudged (drain).
            for n, workflow_id in enumerate(ids):
                if n % 4 == 0:
                    await run_step(client, workflow_id, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
                elif n % 4 == 1:
                    fix = FixInput(actor=AGENT, description="sent")
                    await run_step(client, workflow_id, ComplaintWorkflow.record_fix, fix)

            async def all_moved() -> bool:
                left = [w for w in ids if await pinned_to(client, w) == "A"]
                for workflow_id in left:
                    await client.get_workflow_handle(workflow_id).signal(ComplaintWorkflow.nudge)
                return not left

            await eventually(all_moved, timeout=60, interval=1.0)
        # ...and A's worker stops here, with no case left on it.

    for workflow_id in ids:
        events = await eventually(lambda w=workflow_id: _complete_timeline(db, w), timeout=30)
        seqs = [e.seq for e in events]
        assert seqs == list(range(1, len(seqs) + 1)), workflow_id  # continuous across the move
        types = Counter(e.type for e in events)
        assert types["ticket_event_ignored"] == 1, workflow_id  # build B's own event, once
        keys = [e.data.get("key") for e in events if e.type == "notified"]
        assert len(keys) == len(set(keys)), workflow_id  # each notification once
        assert types["compensation_issued"] <= 1, workflow_id
    issued = [w for w in ids if ids.index(w) % 4 == 3]
    for workflow_id in issued:
        events = await stored_events(db, workflow_id)
        assert sum(e.type == "compensation_issued" for e in events) == 1


async def _on(client: Client, workflow_id: str, build: str) -> bool:
    return await pinned_to(client, workflow_id) == build


async def _complete_timeline(db: asyncpg.Pool, workflow_id: str) -> list[DomainEvent] | None:
    events = await stored_events(db, workflow_id)
    return events if any(e.type == "ticket_event_ignored" for e in events) else None

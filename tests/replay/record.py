"""Record histories of the real ComplaintWorkflow for the replay tests.

    python -m tests.replay.record [VERSION]

Starts its own dev server and time-skipping server, runs each scenario, and writes
tests/replay/histories/<scenario>_<VERSION>.json (default VERSION: the compact-actions era, "compact"; the
lean-actions era was "lean", the channels era "channels", the projection era "v2", the business-calendar and
pause-budget era "calendars").
Older files stay: every version ever recorded keeps replaying in CI. Re-record only when a change is *meant* to be
incompatible (and then version the workflow); CI replays the committed files.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.notifications import Notifier
from recovery.converter import data_converter
from recovery.deployments import make_current
from recovery.versioning import build_id, deployment_name
from starter.binaries import find_binary
from starter.cases import open_case, run_step, status
from tests.helpers import AGENT, LEAD, fast_policy, ticket
from worker import build_worker
from workflows import search_attributes as sa
from workflows.complaint import ComplaintWorkflow
from workflows.models import (
    AcknowledgeInput,
    ApprovalInput,
    AssignInput,
    ChangeSeverityInput,
    CloseInput,
    CompensateInput,
    FixInput,
    FollowUpInput,
    PauseInput,
    ResumeInput,
)
from workflows.policy import Policy

HERE = Path(__file__).parent / "histories"
VERSION = sys.argv[1] if len(sys.argv) > 1 else "compact"
CHANNELS = VERSION not in ("v1", "v2", "calendars")
"""From the channels era on, the recording worker sends over every channel (real SMTP on loopback,
the Zendesk and Slack fakes, a roster), so the histories hold plan and deliver activities."""


class _Channels:
    def __init__(self) -> None:
        from activities.channels.email import SmtpConfig
        from activities.channels.tickets import ZendeskClient
        from activities.roster import parse_roster
        from tests.fakes.slack import FakeSlack
        from tests.fakes.smtp import SmtpServer
        from tests.fakes.zendesk import FakeZendesk

        self.smtp, self.zendesk, self.slack = SmtpServer(), FakeZendesk(), FakeSlack()
        self.zendesk.add_ticket("77")
        roster = parse_roster(f"""
[people.ann]
slack = "{self.slack.hook("ann")}"
[people.lena]
slack = "{self.slack.unknown_hook()}"
[people.tom]
slack = "{self.slack.hook("tom")}"
[people.max]
slack = "{self.slack.hook("max")}"
[roles.agent]
people = ["ann"]
[roles.team-lead]
people = ["lena", "tom"]
[roles.manager]
people = ["max"]
[roles.executive]
people = ["max", "tom"]
""")
        self.notifier = Notifier(
            smtp=SmtpConfig.from_url(self.smtp.url, "care@shop.example"),
            zendesk=ZendeskClient(self.zendesk.url, self.zendesk.email, self.zendesk.token),
            roster=roster,
            console_url="http://127.0.0.1:8000",
        )

    def close(self) -> None:
        self.smtp.close()
        self.zendesk.close()
        self.slack.close()


async def _until_asked(client: Client, case: str) -> None:
    for _ in range(200):
        if (await status(client, case)).deadlines.follow_up_asked:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("follow-up never asked")


async def lifecycle_with_approval(client: Client, queue: str) -> str:
    opened = await open_case(client, ticket("rec-life", customer="cust-rec"), fast_policy(), queue)
    case = opened.case_id
    await open_case(client, ticket("rec-life-2", customer="cust-rec"), fast_policy(), queue)
    await run_step(client, case, ComplaintWorkflow.assign, AssignInput(actor=AGENT, assignee=AGENT.id))
    await run_step(client, case, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT, message="Sorry."))
    await run_step(client, case, ComplaintWorkflow.pause, PauseInput(actor=AGENT, reason="waiting for photos"))
    await run_step(client, case, ComplaintWorkflow.resume, ResumeInput(actor=AGENT))
    await run_step(client, case, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Replacement sent."))
    await run_step(
        client,
        case,
        ComplaintWorkflow.compensate,
        CompensateInput(actor=AGENT, kind="refund", amount={"amount": "120.00", "currency": "USD"}),
    )
    await run_step(client, case, ComplaintWorkflow.approve_compensation, ApprovalInput(actor=LEAD, approve=True))
    await _until_asked(client, case)
    await run_step(
        client, case, ComplaintWorkflow.complete_follow_up, FollowUpInput(actor=AGENT, outcome="unsatisfied")
    )
    await run_step(client, case, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Second replacement."))
    await run_step(
        client, case, ComplaintWorkflow.compensate, CompensateInput(actor=AGENT, kind="none", reason="Done already.")
    )
    await _until_asked(client, case)
    await run_step(
        client, case, ComplaintWorkflow.complete_follow_up, FollowUpInput(actor=AGENT, outcome="satisfied", csat=5)
    )
    await run_step(
        client, case, ComplaintWorkflow.close, CloseInput(actor=AGENT, root_cause="wrong-item-shipped", note="Fixed.")
    )
    await client.get_workflow_handle(opened.workflow_id).result()
    return opened.workflow_id


async def escalation_ladder(env: WorkflowEnvironment, queue: str) -> str:
    extra = {"source": "zendesk", "ticket_id": "77"} if CHANNELS else {}
    opened = await open_case(
        env.client,
        ticket("rec-ladder", customer="cust-ladder", **extra),
        fast_policy(ack="1h", interval="30m", max_silence="90m"),
        queue,
    )
    await env.sleep(timedelta(hours=3))
    await run_step(env.client, opened.case_id, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
    return opened.workflow_id


async def pause_budget(env: WorkflowEnvironment, queue: str) -> str:
    """A pause that outlives the severity's max_pause (changed to high while paused): it ends by itself."""
    data = fast_policy(ack="2h", interval="30m").model_dump(mode="json")
    data["severities"]["normal"]["max_pause"] = "2h"
    data["severities"]["high"]["max_pause"] = "1h"
    opened = await open_case(env.client, ticket("rec-pause", customer="cust-pause"), Policy.model_validate(data), queue)
    await env.sleep(timedelta(minutes=10))
    await run_step(env.client, opened.case_id, "pause", PauseInput(actor=AGENT, reason="waiting for photos"))
    await env.sleep(timedelta(minutes=20))
    await run_step(
        env.client, opened.case_id, "change_severity", ChangeSeverityInput(actor=AGENT, severity="high", reason="VIP")
    )
    await env.sleep(timedelta(hours=1))
    await run_step(env.client, opened.case_id, "acknowledge", AcknowledgeInput(actor=AGENT))
    return opened.workflow_id


async def main() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    import tempfile

    from activities.store import create_pool, embedded_url, migrate

    pool = await create_pool(embedded_url(Path(tempfile.mkdtemp()) / "pg"))
    await migrate(pool)
    queue = f"record-{uuid.uuid4().hex[:6]}"
    channels = _Channels() if CHANNELS else None
    notifier = channels.notifier if channels else Notifier()
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary("temporal"),
        search_attributes=sa.ALL,
        data_converter=data_converter,
    ) as env:
        await make_current(env.client, deployment_name(), build_id())
        async with build_worker(env.client, pool=pool, queue=queue, notifier=notifier):
            workflow_id = await lifecycle_with_approval(env.client, queue)
            history = await env.client.get_workflow_handle(workflow_id).fetch_history()
            (HERE / f"lifecycle_with_approval_{VERSION}.json").write_text(history.to_json())
    from tests.conftest import register_search_attributes

    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_binary("temporal-test-server"),
        data_converter=data_converter,
    ) as env:
        await register_search_attributes(env.client)
        async with build_worker(env.client, pool=pool, queue=queue, notifier=notifier, versioning=False):
            workflow_id = await escalation_ladder(env, queue)
            history = await env.client.get_workflow_handle(workflow_id).fetch_history()
            (HERE / f"escalation_ladder_{VERSION}.json").write_text(history.to_json())
            workflow_id = await pause_budget(env, queue)
            history = await env.client.get_workflow_handle(workflow_id).fetch_history()
            (HERE / f"pause_budget_{VERSION}.json").write_text(history.to_json())
    if channels:
        channels.close()
    print(f"recorded histories in {HERE}")


if __name__ == "__main__":
    from activities.store import stop_embedded

    asyncio.run(main())
    stop_embedded()  # os._exit skips atexit, where the embedded PostgreSQL would otherwise stop
    # Skip interpreter finalization: the Temporal runtime's threads can abort it after a run.
    sys.stdout.flush()
    os._exit(0)

"""The pause budget in the real workflow, on the time-skipping test server: a running pause ends by
itself when the budget is used up (a timer with its own summary), the owner is told, and a further
pause is refused by the update's validator (nothing written)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.notifications import Notifier
from starter.cases import CaseError, open_case, run_step, status, timeline
from tests.helpers import AGENT, WebhookReceiver, eventually, fast_policy, ticket
from worker import build_worker
from workflows.models import PauseInput
from workflows.policy import Policy

QUEUE = "recovery-skip-pause"


def policy_with_max_pause(limit: str) -> Policy:
    data = fast_policy(ack="2h", interval="30m").model_dump(mode="json")
    data["severities"]["normal"]["max_pause"] = limit
    return Policy.model_validate(data)


async def test_pause_budget_auto_resumes_and_tells_the_owner(
    skip_env: WorkflowEnvironment, receiver: WebhookReceiver, db: object
) -> None:
    client = skip_env.client
    async with build_worker(client, pool=db, queue=QUEUE, notifier=Notifier(receiver.url), versioning=False):  # type: ignore[arg-type]
        opened = await open_case(client, ticket("pause-budget"), policy_with_max_pause("1h"), QUEUE)
        await skip_env.sleep(timedelta(minutes=10))
        await run_step(client, opened.case_id, "pause", PauseInput(actor=AGENT, reason="waiting for photos"))
        await skip_env.sleep(timedelta(hours=2))
        events = await timeline(client, opened.case_id)
        current = await status(client, opened.case_id)
        with pytest.raises((CaseError, WorkflowUpdateFailedError)) as refused:
            await run_step(client, opened.case_id, "pause", PauseInput(actor=AGENT, reason="again"))
        after = await timeline(client, opened.case_id)

    t0 = events[0].at
    got = [(e.type, e.actor, round((e.at - t0).total_seconds() / 60)) for e in events]
    assert got[:3] == [("opened", "engine", 0), ("paused", "alice", 10), ("resumed", "engine", 70)]
    assert events[2].data["reason"] == "pause budget used up"
    assert not current.paused
    assert "pause budget is used up" in str(refused.value)
    assert [e.type for e in after] == [e.type for e in events]  # the refused pause wrote nothing
    await eventually(lambda: _told(receiver))


async def _told(receiver: WebhookReceiver) -> bool:
    return any(r.get("template") == "pause_ended" and r.get("recipient") == "agent" for r in receiver.received)

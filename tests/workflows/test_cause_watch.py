"""Repeat-mistake alerts on real servers: the cause watch crosses its threshold once per window,
counts a close signalled twice once, and alerts the cause's owner by email and Slack once across a
worker restart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.cause_feed import CauseWatchFeed
from activities.channels.email import SmtpConfig
from activities.notifications import Notifier
from starter.cases import open_case, run_step, status
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import SmtpServer
from tests.helpers import AGENT, eventually, fast_policy, ticket
from tests.workflows.cause_watch_helpers import (
    CONSOLE,
    OWNER_EMAIL,
    RULES,
    closed_batch,
    counted,
    new_cause,
    roster,
    watch_state,
)
from worker import build_worker
from workflows.complaint import ComplaintWorkflow
from workflows.learning import watch_id
from workflows.models import AcknowledgeInput, CloseInput, CompensateInput, FixInput, FollowUpInput
from workflows.policy import Policy


async def test_the_threshold_is_crossed_once_per_window(skip_env: WorkflowEnvironment, db, task_queue) -> None:
    cause, slack = new_cause(), FakeSlack()
    hook = slack.hook("olga")
    notifier = Notifier(roster=roster(cause, hook, email=False), pool=db, console_url=CONSOLE)
    client = skip_env.client
    rule = RULES.rule_for(cause)
    assert rule is not None
    async with build_worker(client, pool=db, queue=task_queue, notifier=notifier, versioning=False, learning=RULES):
        feed = CauseWatchFeed(client, task_queue, RULES)
        now = await skip_env.get_current_time()
        first_window = rule.window_start(now)
        for i in range(7):  # two past the threshold
            await feed.report(closed_batch(f"first-{i}", now, cause))
        state = await eventually(lambda: counted(client, cause, 7))
        assert state.current is not None and state.current.alerted
        # the 6th and 7th are counted after the alert went out: still one message
        assert len(slack.posts(hook)) == 1
        assert "7 cases" not in slack.posts(hook)[0]["text"] and "5 cases" in slack.posts(hook)[0]["text"]

        first_run = (await client.get_workflow_handle(watch_id(cause)).describe()).run_id
        next_window = rule.window_end(first_window)
        await skip_env.sleep(next_window - now + timedelta(hours=1))  # the watch's timer rolls the window
        later = next_window + timedelta(hours=1)
        for i in range(4):
            await feed.report(closed_batch(f"second-{i}", later, cause))
        state = await eventually(lambda: counted(client, cause, 4))
        assert state.previous is not None and state.previous.start == first_window
        assert len(state.previous.cases) == 7 and state.current is not None and not state.current.alerted
        # the window's end continued the watch as new, its windows carried
        assert (await client.get_workflow_handle(watch_id(cause)).describe()).run_id != first_run
        assert len(slack.posts(hook)) == 1

        await feed.report(closed_batch("second-4", later, cause))
        await eventually(lambda: asyncio.sleep(0, len(slack.posts(hook)) == 2))
        text = slack.posts(hook)[1]["text"]
        assert "5 this window vs 7 in the previous one (down 29%)" in text
        assert all(f"second-{i}" in text for i in range(5)) and "first-0" not in text


async def test_a_close_signalled_twice_counts_once(client: Client, db, task_queue) -> None:
    cause, slack = new_cause(), FakeSlack()
    hook = slack.hook("olga")
    notifier = Notifier(roster=roster(cause, hook, email=False), pool=db, console_url=CONSOLE)
    async with build_worker(client, pool=db, queue=task_queue, notifier=notifier, learning=RULES):
        feed = CauseWatchFeed(client, task_queue, RULES)
        now = datetime.now(UTC)
        for i in range(4):
            await feed.report(closed_batch(f"twice-{i}", now, cause))
        await feed.report(closed_batch("twice-3", now, cause))  # the projector stored that batch again
        await feed.report(closed_batch("twice-3", now + timedelta(seconds=1), cause))  # a retried activity
        await eventually(lambda: counted(client, cause, 4))
        assert slack.posts(hook) == []

        await feed.report(closed_batch("twice-4", now, cause))
        await eventually(lambda: asyncio.sleep(0, len(slack.posts(hook)) == 1))
        state = await watch_state(client, cause)
        assert state is not None and state.current is not None
        assert state.current.cases == [f"twice-{i}" for i in range(5)]


async def close_a_case(client: Client, queue: str, policy: Policy, name: str, cause: str) -> str:
    opened = await open_case(client, ticket(name, customer=f"cust-{name}"), policy, queue)
    case = opened.case_id
    await run_step(client, case, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
    await run_step(client, case, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Resent."))
    await run_step(
        client,
        case,
        ComplaintWorkflow.compensate,
        CompensateInput(actor=AGENT, kind="coupon", amount={"amount": "5.00", "currency": "USD"}),
    )

    async def asked() -> bool:
        return (await status(client, case)).deadlines.follow_up_asked

    await eventually(asked)
    await run_step(client, case, ComplaintWorkflow.complete_follow_up, FollowUpInput(actor=AGENT, outcome="satisfied"))
    await run_step(client, case, ComplaintWorkflow.close, CloseInput(actor=AGENT, root_cause=cause, note="Picking."))
    await client.get_workflow_handle(opened.workflow_id).result()  # its events are all projected
    return case


async def test_five_closes_alert_the_owner_once_by_email_and_slack_across_a_worker_restart(
    client: Client, db, task_queue
) -> None:
    cause, slack, smtp = new_cause(), FakeSlack(), SmtpServer()
    hook = slack.hook("olga")
    policy = fast_policy().model_copy(update={"root_causes": [cause, "other"]})

    def worker():  # type: ignore[no-untyped-def]
        notifier = Notifier(
            smtp=SmtpConfig.from_url(smtp.url, "recovery@example.com"),
            roster=roster(cause, hook),
            pool=db,
            console_url=CONSOLE,
        )
        return build_worker(client, pool=db, queue=task_queue, notifier=notifier, learning=RULES)

    try:
        async with worker():
            cases = await asyncio.gather(*(close_a_case(client, task_queue, policy, f"cw{i}", cause) for i in range(4)))
            await eventually(lambda: counted(client, cause, 4))
        assert smtp.to(OWNER_EMAIL) == [] and slack.posts(hook) == []

        async with worker():  # a new worker: the watch's state is in Temporal, not in the old one
            cases.append(await close_a_case(client, task_queue, policy, "cw4", cause))
            await eventually(lambda: asyncio.sleep(0, len(smtp.to(OWNER_EMAIL)) == 1 and len(slack.posts(hook)) == 1))
            await CauseWatchFeed(client, task_queue, RULES).report(closed_batch(cases[-1], datetime.now(UTC), cause))
            state = await eventually(lambda: counted(client, cause, 5))
            assert sorted(state.current.cases) == sorted(cases)  # type: ignore[union-attr]

        mail = smtp.to(OWNER_EMAIL)[0]
        body = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert f"Repeat mistake: {cause}" in str(mail["Subject"])
        assert "5 this window, none in the previous one" in " ".join(body.split())
        for case in cases:
            assert f"{CONSOLE}/cases/{case.replace(':', '%3A')}" in body
        assert f"{CONSOLE}/reports/causes" in body
        assert f"{CONSOLE}/prevention/new?cause={cause}" in body  # opens an action for this cause
        post = slack.posts(hook)[0]
        assert f"Repeat mistake: {cause}" in post["text"] and all(case in post["text"] for case in cases)
        keys = [r["key"] for r in await db.fetch("SELECT key FROM deliveries WHERE workflow_id = $1", watch_id(cause))]
        window = RULES.rule_for(cause).window_start(datetime.now(UTC)).isoformat()  # type: ignore[union-attr]
        assert sorted(keys) == [
            f"email:cause-watch-{cause}:{window}:olga:email",
            f"slack:cause-watch-{cause}:{window}:olga:slack",
        ]
        assert len(smtp.to(OWNER_EMAIL)) == 1 and len(slack.posts(hook)) == 1
    finally:
        smtp.close()

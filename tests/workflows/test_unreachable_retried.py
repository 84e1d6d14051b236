"""A page to staff that reached nobody because the channel was down (not refusing) is tried again
later, beside the case (time-skipping server, the real worker, the loopback Slack fake answering
503): `unreachable` is not final for an outage."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.notifications import Notifier
from activities.roster import parse_roster
from starter.cases import open_case, timeline
from tests.fakes.slack import FakeSlack
from tests.helpers import eventually, fast_policy, ticket
from worker import build_worker
from workflows.shell.start import PERSON_RETRY, UNREACHABLE_RETRIES

QUEUE = "recovery-unreachable"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.close()


async def test_a_page_nobody_could_get_during_an_outage_is_sent_once_slack_is_back(
    skip_env: WorkflowEnvironment, slack: FakeSlack, db: object
) -> None:
    client = skip_env.client
    ann = slack.hook("ann")
    roster = parse_roster(f'[people.ann]\nslack = "{ann}"\n[roles.agent]\npeople = ["ann"]\n')
    assert PERSON_RETRY.maximum_attempts is not None
    slack.down_next = PERSON_RETRY.maximum_attempts  # down for the new-case page's first round
    async with build_worker(client, pool=db, queue=QUEUE, notifier=Notifier(roster=roster), versioning=False):
        opened = await open_case(client, ticket("outage-page"), fast_policy(ack="30d"), QUEUE)

        async def paged() -> list:
            await skip_env.sleep(timedelta(minutes=1))  # the attempts and the pause, skipped
            events = await timeline(client, opened.case_id)
            done = any(e.type == "notified" and e.data.get("template") == "new_case" for e in events)
            return events if done else []

        events = await eventually(paged, timeout=60, interval=0.2)

    about_new_case = [e for e in events if e.data.get("template") == "new_case"]
    kinds = [e.type for e in about_new_case]
    assert kinds[0] == "notification_failed" and "unreachable" in kinds and kinds[-1] == "notified", kinds
    down = next(e for e in about_new_case if e.type == "unreachable")
    assert about_new_case[-1].at - down.at >= UNREACHABLE_RETRIES[0]  # again after the pause, not at once
    assert len(slack.posts(ann)) == 1  # reached once: the 503 answers took nothing

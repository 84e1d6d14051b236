"""Prevention actions on the time-skipping server with the real worker, PostgreSQL and an SMTP
server on loopback: the owner is reminded a day before the due date, a missed due date climbs the
ladder (team-lead, then manager a day later), and `complete` closes the action with its note — each
projected to the read model."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import asyncpg
import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.channels.email import SmtpConfig
from activities.notifications import Notifier
from activities.roster import parse_roster
from recovery.converter import data_converter
from starter.prevention import OpenAction, complete_action, open_action
from starter.server_errors import CaseError
from tests.fakes.smtp import SmtpServer
from tests.helpers import LEAD, eventually
from worker import build_worker
from workflows.prevention import PreventionActionWorkflow
from workflows.prevention_models import CompleteInput, PreventionState, reminder_at

QUEUE = "recovery-prevention"
ROSTER = parse_roster(
    """
[people.olga]
email = "olga@example.com"
[people.lena]
email = "lena@example.com"
[people.max]
email = "max@example.com"
[roles.team-lead]
people = ["lena"]
[roles.manager]
people = ["max"]
""",
    "test roster",
)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.close()


def notifier(smtp: SmtpServer, db: asyncpg.Pool) -> Notifier:
    return Notifier(smtp=SmtpConfig.from_url(smtp.url, "care@shop.example"), roster=ROSTER, pool=db)


async def row(db: asyncpg.Pool, action_id: str) -> asyncpg.Record:
    found = await db.fetchrow("SELECT * FROM prevention_actions WHERE action_id = $1", action_id)
    assert found is not None
    return found


def subjects(smtp: SmtpServer, address: str) -> list[str]:
    return [str(m["Subject"]).split(" [case ")[0] for m in smtp.to(address)]


async def got(smtp: SmtpServer, address: str) -> list[str]:
    return subjects(smtp, address)


async def projected(db: asyncpg.Pool, action_id: str, column: str, value: object) -> asyncpg.Record:
    async def check() -> asyncpg.Record:
        found = await row(db, action_id)
        assert found[column] == value, (column, found[column])
        return found

    return await eventually(check, timeout=10)


async def test_the_owner_is_reminded_a_day_before_and_a_missed_due_date_climbs_the_ladder(
    skip_env: WorkflowEnvironment, db: asyncpg.Pool, smtp: SmtpServer
) -> None:
    client = skip_env.client
    async with build_worker(client, pool=db, queue=QUEUE, notifier=notifier(smtp, db), versioning=False):
        now = await skip_env.get_current_time()
        due = now + timedelta(days=5)
        action = OpenAction(cause="wrong-item", description="Scan both labels at packing", owner="olga", due=due)
        opened = await open_action(client, QUEUE, action, LEAD)
        handle = client.get_workflow_handle(opened.action_id, result_type=PreventionState)
        await projected(db, opened.action_id, "status", "open")

        await skip_env.sleep(timedelta(days=3, hours=23))  # one hour before the reminder
        assert subjects(smtp, "olga@example.com") == []
        await skip_env.sleep(timedelta(hours=2))
        await eventually(lambda: got(smtp, "olga@example.com"), timeout=10)
        assert subjects(smtp, "olga@example.com") == ["Prevention action due soon"]

        async def reminded_row() -> asyncpg.Record:
            found = await row(db, opened.action_id)
            assert found["reminded_at"] is not None
            return found

        reminded = (await eventually(reminded_row, timeout=10))["reminded_at"]
        assert abs(reminded - (due - timedelta(days=1))) < timedelta(minutes=1)
        assert subjects(smtp, "lena@example.com") == []

        await skip_env.sleep(timedelta(days=1, hours=1))  # the due date passed
        await eventually(lambda: got(smtp, "lena@example.com"), timeout=10)
        assert subjects(smtp, "max@example.com") == []
        state = await projected(db, opened.action_id, "escalation_level", 1)
        assert (state["escalation_level"], state["escalated_to"]) == (1, "team-lead")
        assert "missed its due date" in smtp.to("lena@example.com")[0].get_body(("plain",)).get_content()

        await skip_env.sleep(timedelta(days=1))
        await eventually(lambda: got(smtp, "max@example.com"), timeout=10)
        await projected(db, opened.action_id, "escalation_level", 2)

        done = await complete_action(client, opened.action_id, "Second scan added at packing", LEAD)
        assert done.status == "done" and done.note == "Second scan added at packing"
        final = await handle.result()
        assert final.status == "done"
        stored = await row(db, opened.action_id)
        assert stored["status"] == "done" and stored["note"] == "Second scan added at packing"
        assert stored["done_by"] == "lena"
        # Its history replays under the full sandbox (the worker passes the module through).
        history = await handle.fetch_history()
        await Replayer(workflows=[PreventionActionWorkflow], data_converter=data_converter).replay_workflow(history)
    assert len(smtp.to("olga@example.com")) == 1 and len(smtp.to("max@example.com")) == 1


async def test_an_action_done_in_time_is_never_escalated_and_needs_a_note(
    skip_env: WorkflowEnvironment, db: asyncpg.Pool, smtp: SmtpServer
) -> None:
    client = skip_env.client
    async with build_worker(client, pool=db, queue=QUEUE, notifier=notifier(smtp, db), versioning=False):
        now = await skip_env.get_current_time()
        action = OpenAction(
            cause="late-courier", description="Switch carrier", owner="olga", due=now + timedelta(hours=10)
        )
        opened = await open_action(client, QUEUE, action, LEAD)
        handle = client.get_workflow_handle(opened.action_id, result_type=PreventionState)
        # A blank note is refused by the validator: nothing is written, the action stays open.
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(
                PreventionActionWorkflow.complete, CompleteInput.model_construct(note="  ", actor=LEAD)
            )
        await skip_env.sleep(timedelta(hours=6))  # past half-way: the short action's reminder
        await eventually(lambda: got(smtp, "olga@example.com"), timeout=10)
        await complete_action(client, opened.action_id, "Carrier switched for the north region", LEAD)
        with pytest.raises(CaseError) as again:
            await complete_action(client, opened.action_id, "twice", LEAD)
        assert again.value.code in ("closed", "not_found")
        await handle.result()
        await skip_env.sleep(timedelta(days=3))
    stored = await row(db, opened.action_id)
    assert stored["status"] == "done" and stored["escalation_level"] == 0
    assert subjects(smtp, "lena@example.com") == [] and subjects(smtp, "max@example.com") == []


def test_the_reminder_is_a_day_before_or_half_way() -> None:
    from datetime import UTC, datetime

    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    assert reminder_at(t0, t0 + timedelta(days=10)) == t0 + timedelta(days=9)
    assert reminder_at(t0, t0 + timedelta(hours=10)) == t0 + timedelta(hours=5)

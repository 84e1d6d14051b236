"""Record the replay fixtures: one history per scenario of the real ComplaintWorkflow.

    python -m tests.replay.record                      # every scenario not recorded yet
    python -m tests.replay.record --scenario NAME      # one (repeatable)
    python -m tests.replay.record --out DIR            # somewhere else (a trial run)

Starts its own dev server (scenarios that need real time: activities, retries, seconds-long
deadlines) and time-skipping test server (scenarios that need long timers), an embedded PostgreSQL,
and fakes for every channel (real SMTP on loopback, Zendesk, Slack with a roster, Stripe), and writes
`<out>/<scenario>.json` (default out: tests/replay/histories/<release>, e.g. histories/1.1).

It only ADDS fixtures: a scenario whose file exists is left untouched (and said so); there is no way to
overwrite one: delete the file first, deliberately. A committed fixture is what every later workflow
change must keep replaying.

Every scenario checks, from the recorded run's own timeline (the `timeline` query of that run) and its
history, that what it is named for happened, and every history is replayed before it is written. A
scenario that fails is reported and nothing is written for it; the others are still recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.compensation import Compensator
from activities.notifications import Notifier
from activities.store.projection import stored_events
from recovery.converter import data_converter
from recovery.logs import configure_logging
from recovery.versioning import package_version
from starter.binaries import find_binary
from starter.cases import CaseError, open_case, run_step, status
from tests.helpers import AGENT, LEAD, fast_policy, ticket
from worker import build_worker
from workflows import search_attributes as sa
from workflows.complaint import ComplaintWorkflow
from workflows.models import (
    AcknowledgeInput,
    Actor,
    ApplyPolicyInput,
    ApprovalInput,
    ChangeSeverityInput,
    CloseInput,
    CompensateInput,
    DomainEvent,
    FixInput,
    FollowUpInput,
    PauseInput,
    workflow_id_for,
)
from workflows.policy import Policy

RELEASE = ".".join(package_version().split(".")[:2])
"""The release whose workflow behaviour today's code has (the package version's major.minor). A change
that alters the commands a case emits ships as a new release and build: its fixtures are recorded anew
in its own folder, and the older releases' folders stay as they were recorded (their cases stay pinned
to their own build's workers, which replay them)."""
HISTORIES = Path(__file__).parent / "histories" / RELEASE

SCENARIOS: tuple[str, ...] = (
    "escalation_ladder_breach",
    "four_eyes_approval",
    "pause_budget_used_up",
    "follow_up_unsatisfied_reopens",
    "continue_as_new_contact_burst",
    "apply_policy_moves_case",
    "generation_2",
    "zendesk_reply_resumes",
    "payment_outcome_unknown_resolved",
    "channel_failure_roster_fallthrough",
    "erase_customer_data",
    "offer_and_pick",
)
"""The scenarios of the 1.0 baseline's fixtures, in recording order (tests/replay/test_replay.py
requires a fixture for each)."""

EXTRA_RUNS: dict[str, tuple[str, ...]] = {
    "continue_as_new_contact_burst": ("continue_as_new_contact_burst_run2",),
    "erase_customer_data": ("erase_customer_data_run2",),
}
"""Scenarios that record more than one run: the files after the first (the run continued into)."""

CONTINUE_AS_NEW_AT = 300
"""The dev server suggests continuing as new at this many history events (as tests/conftest.py's)."""

MANAGER = Actor(id="max", role="manager")


def fixture_names(scenario: str) -> tuple[str, ...]:
    """The fixture files (stems) a scenario writes."""
    return (scenario, *EXTRA_RUNS.get(scenario, ()))


def plan(scenarios: Iterable[str], out: Path) -> tuple[list[str], dict[str, list[Path]]]:
    """(the scenarios to record, {scenario: its files that exist already}). A scenario with any of its
    files present is not recorded: fixtures are only ever added, never overwritten."""
    record: list[str] = []
    kept: dict[str, list[Path]] = {}
    for scenario in scenarios:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; one of: {', '.join(SCENARIOS)}")
        present = [out / f"{name}.json" for name in fixture_names(scenario) if (out / f"{name}.json").exists()]
        if present:
            kept[scenario] = present
        else:
            record.append(scenario)
    return record, kept


def write_fixture(path: Path, history: WorkflowHistory) -> None:
    """Write a new fixture; an existing file is never replaced (exclusive create: FileExistsError)."""
    with path.open("x") as file:
        file.write(history.to_json())


class ScenarioMissing(AssertionError):
    """The recorded run does not show what its scenario is named for."""


# ---- the rig: servers, database, channels -------------------------------------------------------


class _Channels:
    """Every channel on loopback: SMTP, Zendesk (signing its webhooks), Slack with a roster whose first
    team lead's hook is unknown (the next person of the role is reached), and a Stripe fake."""

    ZENDESK_SECRET = "zd-record-secret"

    def __init__(self) -> None:
        from activities.channels.email import SmtpConfig
        from activities.channels.tickets import ZendeskClient
        from activities.roster import parse_roster
        from tests.fakes.payments import FakePayments
        from tests.fakes.slack import FakeSlack
        from tests.fakes.smtp import SmtpServer
        from tests.fakes.zendesk import FakeZendesk

        self.smtp, self.slack = SmtpServer(), FakeSlack()
        self.zendesk = FakeZendesk(webhook_secret=self.ZENDESK_SECRET)
        self.zendesk.add_ticket("77")
        self.payments = FakePayments()
        self.lena, self.tom = self.slack.unknown_hook(), self.slack.hook("tom")
        roster = parse_roster(f"""
[people.ann]
slack = "{self.slack.hook("ann")}"
[people.lena]
slack = "{self.lena}"
[people.tom]
slack = "{self.tom}"
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
        self.payments.close()


@dataclass
class Rig:
    env: WorkflowEnvironment
    pool: asyncpg.Pool
    channels: _Channels
    skipping: bool

    @property
    def client(self) -> Client:
        return self.env.client

    @asynccontextmanager
    async def worker(self, compensator: Compensator | None = None) -> AsyncIterator[str]:
        """A worker on a task queue of its own (yielded); record mode for compensation unless given."""
        queue = f"record-{uuid.uuid4().hex[:8]}"
        async with build_worker(
            self.client,
            pool=self.pool,
            queue=queue,
            notifier=self.channels.notifier,
            compensator=compensator or Compensator(self.pool),
            versioning=False,  # recorded without a deployment: one server setup for both servers
        ):
            yield queue

    async def sleep(self, duration: timedelta) -> None:
        assert self.skipping, "only the time-skipping server sleeps in workflow time"
        await self.env.sleep(duration)


@dataclass
class Recorded:
    """One run's history and the domain events its `timeline` query answers, under its file stem."""

    name: str
    history: WorkflowHistory
    events: list[DomainEvent]


# ---- checks -------------------------------------------------------------------------------------


def _summary(events: Sequence[DomainEvent]) -> str:
    return ", ".join(f"{e.seq}:{e.type}" for e in events)


def find(events: Sequence[DomainEvent], type_: str, after: int = 0, **data: Any) -> DomainEvent:
    """The first event of `type_` after sequence `after` whose data has `data`'s values."""
    for event in events:
        if event.seq > after and event.type == type_ and all(event.data.get(k) == v for k, v in data.items()):
            return event
    raise ScenarioMissing(f"no {type_} event {data or ''} after seq {after}; the run has: {_summary(events)}")


def in_order(events: Sequence[DomainEvent], *steps: tuple[str, dict[str, Any]]) -> list[DomainEvent]:
    """Each (type, data) found after the one before it."""
    found: list[DomainEvent] = []
    after = 0
    for type_, data in steps:
        event = find(events, type_, after, **data)
        found.append(event)
        after = event.seq
    return found


def count(events: Sequence[DomainEvent], type_: str, **data: Any) -> int:
    return sum(e.type == type_ and all(e.data.get(k) == v for k, v in data.items()) for e in events)


def check(condition: object, message: str) -> None:
    if not condition:
        raise ScenarioMissing(message)


def _event_types(history: WorkflowHistory) -> list[int]:
    return [event.event_type for event in history.events]


def _updates(history: WorkflowHistory, name: str) -> int:
    """How many updates named `name` the run accepted."""
    return sum(
        event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name == name
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    )


async def record_run(
    client: Client, name: str, workflow_id: str, run_id: str | None = None, *, only_run: bool = True
) -> Recorded:
    """The run's history and its own timeline (the `timeline` query of that very run). `only_run`
    (all but the continue-as-new scenario): the run is the case's only one, a first run that did not
    continue, so the fixture holds the whole scenario."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    history = await handle.fetch_history()
    events = await handle.query("timeline", result_type=list[DomainEvent])
    if only_run:
        started = history.events[0].workflow_execution_started_event_attributes
        check(not started.continued_execution_run_id, f"{name}: the recorded run was continued from another")
        check(
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW not in _event_types(history),
            f"{name}: the run continued as new; the fixture would not hold the whole scenario",
        )
    return Recorded(name, history, events)


async def _until(check_: Callable[[], Awaitable[object]], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check_():
        if time.monotonic() > deadline:
            raise ScenarioMissing(f"not within {timeout:.0f}s: {what}")
        await asyncio.sleep(0.1)


async def _until_asked(client: Client, case: str) -> None:
    async def asked() -> bool:
        return (await status(client, case)).deadlines.follow_up_asked

    await _until(asked, "the follow-up question went out")


async def _refused(step: Awaitable[object], code: str, text: str = "") -> str:
    """A step the case must refuse (by the update's validator: nothing is written to the history)."""
    try:
        await step
    except CaseError as err:
        check(err.code == code and text in err.message, f"refused as {err.code}: {err.message}; wanted {code} {text}")
        return err.message
    raise ScenarioMissing(f"the step was accepted; it should have been refused ({code} {text})")


async def _finished(client: Client, workflow_id: str) -> None:
    async def done() -> bool:
        described = await client.get_workflow_handle(workflow_id).describe()
        return described.status == WorkflowExecutionStatus.COMPLETED

    await _until(done, f"{workflow_id} completed")


async def _close_lifecycle(client: Client, case: str, root_cause: str = "wrong-item-shipped") -> None:
    """acknowledge → fix → no compensation → follow-up satisfied → close."""
    await run_step(client, case, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT, message="Sorry."))
    await run_step(client, case, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Replaced."))
    await run_step(
        client, case, ComplaintWorkflow.compensate, CompensateInput(actor=AGENT, kind="none", reason="Fixed.")
    )
    await _follow_up_and_close(client, case, csat=5, note="Done.", root_cause=root_cause)


async def _follow_up_and_close(
    client: Client, case: str, *, csat: int, note: str, root_cause: str = "wrong-item-shipped"
) -> None:
    """Once the follow-up is asked: answered satisfied with `csat`, then the case closed."""
    await _until_asked(client, case)
    await run_step(
        client, case, ComplaintWorkflow.complete_follow_up, FollowUpInput(actor=AGENT, outcome="satisfied", csat=csat)
    )
    await run_step(client, case, ComplaintWorkflow.close, CloseInput(actor=AGENT, root_cause=root_cause, note=note))


# ---- scenarios on the time-skipping server ------------------------------------------------------


async def escalation_ladder_breach(rig: Rig) -> list[Recorded]:
    """Nobody acknowledges: both warnings, the deadline missed, and the ladder climbed to its top
    (team-lead, manager, executive), one level per interval. Acknowledged late, the fix step starts at
    the top, and nobody fixes: its warnings, then its deadline missed at the top level, which no
    escalation timer marks (there is no level left): the breach at the top."""
    client = rig.client
    async with rig.worker() as queue:
        opened = await open_case(
            client,
            ticket("rec-ladder", customer="cust-ladder", source="zendesk", ticket_id="77"),
            fast_policy(ack="1h", fix="1h", interval="30m"),
            queue,
        )
        await rig.sleep(timedelta(hours=2, minutes=15))  # 1h to the deadline, then 2 intervals to the top
        top = await status(client, opened.case_id)
        check(top.escalation_level == 3 and top.step == "acknowledge", f"not at the top: {top}")
        await run_step(client, opened.case_id, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
        await rig.sleep(timedelta(hours=1, minutes=15))
        recorded = await record_run(client, "escalation_ladder_breach", opened.workflow_id)
    events = recorded.events
    in_order(
        events,
        ("warning", {"step": "acknowledge", "fraction": 0.5}),
        ("warning", {"step": "acknowledge", "fraction": 0.75}),
        ("deadline_missed", {"step": "acknowledge", "level": 0}),
        ("escalated", {"step": "acknowledge", "level": 1, "role": "team-lead"}),
        ("escalated", {"step": "acknowledge", "level": 2, "role": "manager"}),
        ("escalated", {"step": "acknowledge", "level": 3, "role": "executive"}),
        ("acknowledged", {}),
        ("warning", {"step": "fix", "fraction": 0.5}),
        ("warning", {"step": "fix", "fraction": 0.75}),
        ("deadline_missed", {"step": "fix", "level": 3}),
    )
    check(count(events, "escalated") == 3, f"escalated past the top: {_summary(events)}")
    check(count(events, "notified", template="escalation") == 3, f"escalations not all delivered: {_summary(events)}")
    return [recorded]


def _pause_policy() -> Policy:
    data = fast_policy(ack="2h", interval="30m").model_dump(mode="json")
    data["severities"]["normal"]["max_pause"] = "2h"
    data["severities"]["high"]["max_pause"] = "1h"
    return Policy.model_validate(data)


async def pause_budget_used_up(rig: Rig) -> list[Recorded]:
    """Paused after 10 min, made high (max_pause 1h) 20 min into the pause: the budget runs out 40 min
    later and the case resumes by itself (the owner told); nobody acts, so it warns and escalates at the
    deadline, 110 min of acknowledge budget later; a further pause is refused (budget used up)."""
    client = rig.client
    async with rig.worker() as queue:
        opened = await open_case(client, ticket("rec-pause", customer="cust-pause"), _pause_policy(), queue)
        case = opened.case_id
        await rig.sleep(timedelta(minutes=10))
        await run_step(client, case, ComplaintWorkflow.pause, PauseInput(actor=AGENT, reason="waiting for photos"))
        await rig.sleep(timedelta(minutes=20))
        await run_step(
            client,
            case,
            ComplaintWorkflow.change_severity,
            ChangeSeverityInput(actor=AGENT, severity="high", reason="VIP"),
        )
        await rig.sleep(timedelta(hours=2, minutes=40))
        await _refused(
            run_step(client, case, ComplaintWorkflow.pause, PauseInput(actor=AGENT, reason="again")),
            "conflict",
            "pause budget is used up",
        )
        await run_step(client, case, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
        recorded = await record_run(client, "pause_budget_used_up", opened.workflow_id)
    events = recorded.events
    paused, _, resumed, *_ = in_order(
        events,
        ("paused", {"step": "acknowledge"}),
        ("severity_changed", {"severity": "high"}),
        ("resumed", {"reason": "pause budget used up"}),
        ("notified", {"template": "pause_ended"}),
        ("warning", {"step": "acknowledge"}),
        ("deadline_missed", {"step": "acknowledge"}),
        ("escalated", {"level": 1}),
        ("acknowledged", {}),
    )
    check(resumed.actor == "engine", f"resumed by {resumed.actor}, not by itself")
    check(round((resumed.at - paused.at).total_seconds()) == 60 * 60, f"paused {resumed.at - paused.at}, not 1h")
    check(count(events, "paused") == 1, "the refused pause was written")
    return [recorded]


# ---- scenarios on the dev server ----------------------------------------------------------------


async def four_eyes_approval(rig: Rig) -> list[Recorded]:
    """A refund above the agent's authority waits for approval; the agent cannot approve it (not one's
    own, not the agent's role); a team lead approves; it is issued; follow-up, close."""
    client = rig.client
    async with rig.worker() as queue:
        opened = await open_case(client, ticket("rec-four-eyes", customer="cust-four-eyes"), fast_policy(), queue)
        case = opened.case_id
        await run_step(client, case, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT, message="Sorry."))
        await run_step(client, case, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Replaced."))
        waiting = await run_step(
            client,
            case,
            ComplaintWorkflow.compensate,
            CompensateInput(actor=AGENT, kind="refund", amount={"amount": "120.00", "currency": "USD"}),
        )
        pending = waiting.pending_compensation
        check(pending is not None and waiting.step == "compensate", f"not waiting for approval: {waiting}")
        await _refused(
            run_step(client, case, ComplaintWorkflow.approve_compensation, ApprovalInput(actor=AGENT, approve=True)),
            "forbidden",
        )
        await run_step(client, case, ComplaintWorkflow.approve_compensation, ApprovalInput(actor=LEAD, approve=True))
        await _follow_up_and_close(client, case, csat=5, note="ok")
        await _finished(client, opened.workflow_id)
        recorded = await record_run(client, "four_eyes_approval", opened.workflow_id)
    events = recorded.events
    proposed, approved, issued, *_ = in_order(
        events,
        ("compensation_proposed", {"kind": "refund", "needs_approval": True, "authority": "50.00 USD"}),
        ("compensation_approved", {}),
        ("compensation_issued", {"kind": "refund", "agent_issued": False}),
        ("follow_up_asked", {}),
        ("follow_up_done", {"outcome": "satisfied"}),
        ("closed", {"root_cause": "wrong-item-shipped"}),
    )
    check(proposed.actor == AGENT.id and approved.actor == LEAD.id, "approved by its proposer")
    check(approved.data["proposal"] == proposed.seq == issued.data["proposal"], "another proposal approved")
    check(count(events, "compensation_approved") == 1, "the agent's own approval was written")
    return [recorded]


async def follow_up_unsatisfied_reopens(rig: Rig) -> list[Recorded]:
    """Fixed, no compensation, the customer answers unsatisfied: reopened at fix; fixed again, asked
    again, satisfied, closed."""
    client = rig.client
    async with rig.worker() as queue:
        opened = await open_case(client, ticket("rec-reopen", customer="cust-reopen"), fast_policy(), queue)
        case = opened.case_id
        await run_step(client, case, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT, message="Sorry."))
        await run_step(client, case, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Replaced."))
        await run_step(
            client, case, ComplaintWorkflow.compensate, CompensateInput(actor=AGENT, kind="none", reason="Fixed.")
        )
        await _until_asked(client, case)
        reopened = await run_step(
            client,
            case,
            ComplaintWorkflow.complete_follow_up,
            FollowUpInput(actor=AGENT, outcome="unsatisfied", note="still the wrong size"),
        )
        check(reopened.step == "fix", f"not reopened at fix: {reopened.step}")
        await run_step(client, case, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Size M sent."))
        await run_step(
            client, case, ComplaintWorkflow.compensate, CompensateInput(actor=AGENT, kind="none", reason="Fixed.")
        )
        await _follow_up_and_close(client, case, csat=4, note="ok")
        await _finished(client, opened.workflow_id)
        recorded = await record_run(client, "follow_up_unsatisfied_reopens", opened.workflow_id)
    in_order(
        recorded.events,
        ("fix_recorded", {"description": "Replaced."}),
        ("follow_up_asked", {}),
        ("follow_up_done", {"outcome": "unsatisfied"}),
        ("reopened", {"step": "fix", "reason": "customer unsatisfied"}),
        ("fix_recorded", {"description": "Size M sent."}),
        ("follow_up_asked", {}),
        ("follow_up_done", {"outcome": "satisfied"}),
        ("closed", {}),
    )
    # the owner is told of the reopening (delivered beside the case: before or after the next fix)
    in_order(recorded.events, ("reopened", {"step": "fix"}), ("notified", {"template": "reopened"}))
    return [recorded]


BURST_CONCURRENCY = 10
BURST_LIMIT = 1000


async def continue_as_new_contact_burst(rig: Rig) -> list[Recorded]:
    """Repeat contacts 10 at a time on one case until its history is long enough for the server to
    suggest continuing as new: the run continues (contacts racing it are retried into the new run),
    every contact is counted once; the new run takes more contacts and the acknowledgement. Both runs
    are recorded: the first ends with the continue-as-new, the second starts from the carried state."""
    client = rig.client
    policy = fast_policy(ack="30d", fix="30d", interval="30d")
    async with rig.worker() as queue:
        opened = await open_case(client, ticket("rec-burst", customer="cust-burst"), policy, queue)
        case = opened.case_id
        handle = client.get_workflow_handle(opened.workflow_id)
        first = (await handle.describe()).run_id
        sent = 0

        async def contact(n: int) -> None:
            result = await open_case(
                client, ticket("rec-burst", customer="cust-burst", event=f"burst-{n}"), policy, queue
            )
            check(not result.duplicate and not result.created, f"burst-{n}: {result}")

        while (await handle.describe()).run_id == first:
            check(sent < BURST_LIMIT, f"no continue-as-new after {sent} contacts")
            await asyncio.gather(*(contact(sent + i) for i in range(BURST_CONCURRENCY)))
            sent += BURST_CONCURRENCY
        second = (await handle.describe()).run_id
        for n in range(sent, sent + 3):  # the new run takes contacts too
            await contact(n)
        sent += 3
        final = await run_step(client, case, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
        check(final.contact_count == 1 + sent, f"{sent} contacts sent, {final.contact_count - 1} counted")
        check((await handle.describe()).run_id == second, "the second run continued as new too")
        run1 = await record_run(client, "continue_as_new_contact_burst", opened.workflow_id, first, only_run=False)
        run2 = await record_run(
            client, "continue_as_new_contact_burst_run2", opened.workflow_id, second, only_run=False
        )
    check(
        _event_types(run1.history)[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
        "the first run did not end with continue-as-new",
    )
    started = run2.history.events[0].workflow_execution_started_event_attributes
    check(started.continued_execution_run_id == first, "the second run was not continued from the first")
    check(
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW not in _event_types(run2.history),
        "the second run continued as new",
    )
    # The first run's timeline query answers what it carried over (its projected events stay behind in
    # the event store): its contacts are counted from its history, the case's events from the store.
    in_run1, in_run2 = _updates(run1.history, "add_contact"), count(run2.events, "contact_added")
    check(in_run1 >= BURST_CONCURRENCY, f"only {in_run1} contacts in the first run")
    check(in_run2 >= 3, f"only {in_run2} contacts in the second run")
    find(run2.events, "acknowledged")
    async with rig.pool.acquire() as conn:
        stored = await stored_events(conn, opened.workflow_id)
    check([e.seq for e in stored] == list(range(1, len(stored) + 1)), "the event store misses events")
    check(count(stored, "contact_added") == sent, f"{count(stored, 'contact_added')} contacts stored of {sent}")
    find(stored, "escalated", reason="3 contacts on this case")  # every 3rd contact escalates
    find(stored, "severity_changed", reason="3 contacts on this case")
    print(f"  continue_as_new_contact_burst: {sent} contacts; run 1 {len(run1.history.events)} history events")
    return [run1, run2]


async def apply_policy_moves_case(rig: Rig) -> list[Recorded]:
    """An acknowledged case moved to a new policy by a manager (an agent may not): the fix step's
    budget is the new policy's; fixed under it."""
    client = rig.client
    old = fast_policy(fix="4h")
    new = fast_policy(fix="8h").model_copy(update={"name": "moved", "version": "2"})
    async with rig.worker() as queue:
        opened = await open_case(client, ticket("rec-move", customer="cust-move"), old, queue)
        case = opened.case_id
        await run_step(client, case, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT, message="Sorry."))
        before = await status(client, case)
        await _refused(
            run_step(client, case, ComplaintWorkflow.apply_policy, ApplyPolicyInput(actor=AGENT, policy=new)),
            "forbidden",
        )
        move = ApplyPolicyInput(actor=MANAGER, policy=new)
        moved = await run_step(client, case, ComplaintWorkflow.apply_policy, move)
        check(moved.policy == "moved@2", f"still on {moved.policy}")
        check(
            before.deadlines.due_at is not None
            and moved.deadlines.due_at is not None
            and moved.deadlines.due_at - before.deadlines.due_at >= timedelta(hours=3, minutes=59),
            f"the fix deadline did not move: {before.deadlines.due_at} -> {moved.deadlines.due_at}",
        )
        await run_step(client, case, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Replaced."))
        recorded = await record_run(client, "apply_policy_moves_case", opened.workflow_id)
    _, applied, _ = in_order(
        recorded.events,
        ("acknowledged", {}),
        ("policy_applied", {"previous": f"{old.name}@{old.version}", "policy": "moved@2"}),
        ("fix_recorded", {}),
    )
    check(applied.actor == MANAGER.id, f"applied by {applied.actor}")
    check(count(recorded.events, "policy_applied") == 1, "the agent's refused move was written")
    return [recorded]


async def generation_2(rig: Rig) -> list[Recorded]:
    """A case closed; its customer complains again about the same order (a new ticket event): the next
    generation, `<case>~2`, opens (the closed case is never started again). Generation 2 is recorded:
    opened, acknowledged, with the first one's redelivered event a duplicate of generation 1."""
    client = rig.client
    policy = fast_policy()
    async with rig.worker() as queue:
        first = await open_case(client, ticket("rec-gen", customer="cust-gen"), policy, queue)
        await _close_lifecycle(client, first.case_id)
        await _finished(client, first.workflow_id)
        complaint = ticket("rec-gen", customer="cust-gen", event="evt-rec-gen-again")
        again = await open_case(client, complaint, policy, queue)
        check(
            again.created and again.workflow_id == workflow_id_for(first.case_id, 2),
            f"not generation 2: {again}",
        )
        redelivered = await open_case(client, ticket("rec-gen", customer="cust-gen"), policy, queue)
        check(redelivered.duplicate and redelivered.workflow_id == first.workflow_id, f"{redelivered}")
        await run_step(client, again.case_id, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
        recorded = await record_run(client, "generation_2", again.workflow_id)
    in_order(recorded.events, ("opened", {"event_id": "evt-rec-gen-again"}), ("acknowledged", {}))
    check(again.case_id == f"{first.case_id}~2", f"generation 2's case id is {again.case_id}")
    check(count(recorded.events, "closed") == 0, "generation 2 holds generation 1's events")
    return [recorded]


ZENDESK_TICKET = "5001"


async def zendesk_reply_resumes(rig: Rig) -> list[Recorded]:
    """Driven by Zendesk webhooks through the API's intake route (signed, as Zendesk POSTs them): the
    ticket opens the case, the agent's first public reply acknowledges, the ticket set to pending pauses
    it, the customer's reply resumes it, the agent's next reply records the fix. The engine's own
    comments coming back as webhooks are dropped."""
    from starter.agents import load_agents
    from starter.api import ApiSettings, create_app
    from starter.intake import IntakeConfig, ZendeskConfig
    from starter.intake.events import ZendeskRules
    from tests.fakes.zendesk import FakeZendesk

    client, zendesk = rig.client, rig.channels.zendesk
    root = Path(__file__).resolve().parents[2]

    async with rig.worker() as queue:

        async def database() -> asyncpg.Pool:
            return rig.pool

        async def connect() -> Client:
            return client

        settings = ApiSettings(
            agents=load_agents(str(root / "starter" / "dev_agents.toml")),
            intake=IntakeConfig(
                zendesk=ZendeskConfig(
                    secrets=[_Channels.ZENDESK_SECRET],
                    events=ZendeskRules(agent_reply="record_fix"),
                    api_user_id=str(FakeZendesk.api_user_id),
                )
            ),
            policy=fast_policy(),
            task_queue=queue,
            database=database,
        )
        transport = httpx.ASGITransport(app=create_app(settings, connect))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:

            async def pump() -> list[dict[str, Any]]:
                answers = []
                for raw, headers in zendesk.take_webhooks():
                    response = await api.post("/v1/webhooks/zendesk", content=raw, headers=headers)
                    check(response.status_code == 202, f"webhook answered {response.status_code}: {response.text}")
                    if "ignored" not in response.json() or response.json().get("rule"):
                        answers.append(response.json())
                return answers

            async def one(step: str) -> dict[str, Any]:
                answers = await pump()
                check(len(answers) == 1, f"{step}: {answers}")
                return answers[0]

            zendesk.open_ticket(
                ZENDESK_TICKET, requester_id=9001, name="Dana Example", email="dana@example.com", subject="Wrong size"
            )
            opened = await one("open")
            check(opened.get("created") is True, f"the ticket opened no case: {opened}")
            case, workflow_id = opened["case_id"], opened["workflow_id"]
            zendesk.agent_reply(ZENDESK_TICKET, "So sorry about the size mix-up, Dana.", agent_id=501)
            ack = await one("acknowledge")
            check(ack["step"] == "acknowledge" and ack["applied"], f"{ack}")
            zendesk.set_status(ZENDESK_TICKET, "pending")
            paused = await one("pause")
            check(paused["step"] == "pause" and paused["applied"], f"{paused}")

            async def is_paused() -> bool:
                return (await status(client, case)).paused

            await _until(is_paused, "the case paused")
            zendesk.customer_reply(ZENDESK_TICKET, "Here is the photo of the label.")
            resumed = await one("resume")
            check(resumed["step"] == "customer_message" and resumed["applied"], f"{resumed}")

            async def is_running() -> bool:
                return not (await status(client, case)).paused

            await _until(is_running, "the case resumed")
            zendesk.agent_reply(ZENDESK_TICKET, "A size M is on its way to you.", agent_id=501)
            await pump()

            async def fixed() -> bool:
                return (await status(client, case)).step == "compensate"

            await _until(fixed, "the fix recorded")
            await pump()  # the engine's own comments, dropped
        recorded = await record_run(client, "zendesk_reply_resumes", workflow_id)
    events = recorded.events
    _, ack_event, _, _, resumed_event, _ = in_order(
        events,
        ("opened", {"source": "zendesk", "ticket_id": ZENDESK_TICKET}),
        ("acknowledged", {"message": "So sorry about the size mix-up, Dana."}),
        ("paused", {"reason": "ticket status pending"}),
        ("customer_replied", {"source": "zendesk", "counted": False, "text": "Here is the photo of the label."}),
        ("resumed", {}),
        ("fix_recorded", {"description": "A size M is on its way to you."}),
    )
    check(ack_event.actor == "zendesk-501", f"acknowledged by {ack_event.actor}")
    check(resumed_event.actor == "customer", f"resumed by {resumed_event.actor}, not the customer's reply")
    check(count(events, "acknowledged") == 1 and count(events, "contact_added") == 0, "own comments looped")
    return [recorded]


async def payment_outcome_unknown_resolved(rig: Rig) -> list[Recorded]:
    """A refund within the agent's authority, issued through the Stripe fake: the refund is made but its
    answer lost, then the provider fails every request until the issuing gives up: outcome unknown
    (escalated; a new proposal refused). The provider comes back having forgotten the idempotency key;
    the re-check finds the refund by its metadata: issued once; follow-up, close."""
    client, payments = rig.client, rig.channels.payments
    refund = CompensateInput(actor=AGENT, kind="refund", amount={"amount": "45.00", "currency": "USD"})
    compensator = Compensator(rig.pool, payments.url, payments.api_key, timeout=5.0)
    async with rig.worker(compensator) as queue:
        opened = await open_case(
            client, ticket("rec-outage", customer="cust-outage", payment="pi_recoutage"), fast_policy(), queue
        )
        case = opened.case_id
        await run_step(client, case, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
        await run_step(client, case, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Done."))
        payments.drop_next = True  # the refund is made; its answer never arrives…
        payments.outage_after_drop = 10_000  # …and from then on the provider answers 500
        unknown = await asyncio.wait_for(run_step(client, case, ComplaintWorkflow.compensate, refund), 180)
        pending = unknown.pending_compensation
        check(pending is not None and pending.status == "outcome_unknown", f"not unknown: {pending}")
        await _refused(run_step(client, case, ComplaintWorkflow.compensate, refund), "conflict", "unknown outcome")
        payments.forget_keys()
        payments.fail_next = 0  # the provider is back

        async def settled() -> bool:
            return (await status(client, case)).step == "follow_up"

        await _until(settled, "the refund found and settled", timeout=180)
        await _until_asked(client, case)
        await run_step(
            client, case, ComplaintWorkflow.complete_follow_up, FollowUpInput(actor=AGENT, outcome="satisfied")
        )
        await run_step(client, case, ComplaintWorkflow.close, CloseInput(actor=AGENT, root_cause="other", note="ok"))
        await _finished(client, opened.workflow_id)
        recorded = await record_run(client, "payment_outcome_unknown_resolved", opened.workflow_id)
    events = recorded.events
    in_order(
        events,
        ("compensation_proposed", {"kind": "refund", "needs_approval": False}),
        ("compensation_outcome_unknown", {}),
        ("escalated", {"reason": "compensation outcome unknown"}),
        ("compensation_issued", {"kind": "refund", "reference": payments.refunds[0]["id"]}),
        ("closed", {}),
    )
    check(payments.refund_count == 1, f"{payments.refund_count} refunds made")
    check(count(events, "compensation_issued") == 1 and count(events, "compensation_failed") == 0, "not once")
    return [recorded]


async def channel_failure_roster_fallthrough(rig: Rig) -> list[Recorded]:
    """The acknowledge deadline (3 s) passes: the escalation goes to the team-lead role, whose first
    person (lena) has an unknown Slack hook: that channel fails, she is unreachable, and the next person
    of the role (tom) is reached."""
    client, slack = rig.client, rig.channels.slack
    async with rig.worker() as queue:
        opened = await open_case(
            client, ticket("rec-roster", customer="cust-roster"), fast_policy(ack="3s", interval="1h"), queue
        )
        case = opened.case_id

        async def escalation_sent() -> bool:
            events = await client.get_workflow_handle(opened.workflow_id).query(
                "timeline", result_type=list[DomainEvent]
            )
            return any(e.type == "notified" and e.data.get("template") == "escalation" for e in events)

        await _until(escalation_sent, "the escalation delivered")
        await run_step(client, case, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT))
        recorded = await record_run(client, "channel_failure_roster_fallthrough", opened.workflow_id)
    events = recorded.events
    _, failed, unreachable, notified, _ = in_order(
        events,
        ("escalated", {"level": 1, "role": "team-lead"}),
        ("notification_failed", {"template": "escalation", "recipient": "team-lead"}),
        ("unreachable", {"template": "escalation", "recipient": "team-lead"}),
        ("notified", {"template": "escalation", "recipient": "team-lead"}),
        ("acknowledged", {}),
    )
    check(
        str(failed.data["channel"]).startswith("slack") and "lena" in failed.data["channel"],
        f"failed: {failed.data}",
    )
    check("404" in failed.data["reason"], f"failed: {failed.data}")
    check("lena" in unreachable.data["person"], f"unreachable: {unreachable.data}")
    reached = notified.data.get("notified") or []
    check(any("tom" in r for r in reached) and not any("lena" in r for r in reached), f"reached {reached}")
    posts = slack.posts(rig.channels.tom)
    check(any("escalated to level 1" in p.get("text", "") for p in posts), f"tom's Slack got {posts}")
    return [recorded]


async def erase_customer_data(rig: Rig) -> list[Recorded]:
    from tests.replay.erase_scenario import erase_customer_data as scenario  # it imports this module

    return await scenario(rig)


async def offer_and_pick(rig: Rig) -> list[Recorded]:
    from tests.replay.offer_scenario import offer_and_pick as scenario  # it imports this module

    return await scenario(rig)


Scenario = Callable[[Rig], Awaitable[list[Recorded]]]
SKIPPING: dict[str, Scenario] = {
    "escalation_ladder_breach": escalation_ladder_breach,
    "pause_budget_used_up": pause_budget_used_up,
}
DEV: dict[str, Scenario] = {
    "four_eyes_approval": four_eyes_approval,
    "follow_up_unsatisfied_reopens": follow_up_unsatisfied_reopens,
    "continue_as_new_contact_burst": continue_as_new_contact_burst,
    "apply_policy_moves_case": apply_policy_moves_case,
    "generation_2": generation_2,
    "zendesk_reply_resumes": zendesk_reply_resumes,
    "payment_outcome_unknown_resolved": payment_outcome_unknown_resolved,
    "channel_failure_roster_fallthrough": channel_failure_roster_fallthrough,
    "erase_customer_data": erase_customer_data,
    "offer_and_pick": offer_and_pick,
}
assert set(SKIPPING) | set(DEV) == set(SCENARIOS) and not set(SKIPPING) & set(DEV)


# ---- running ------------------------------------------------------------------------------------


async def replays(recorded: Recorded) -> None:
    """The history replays against the code that recorded it (what test_replay.py will do)."""
    replayer = Replayer(workflows=[ComplaintWorkflow], data_converter=data_converter)
    result = await replayer.replay_workflow(recorded.history, raise_on_replay_failure=False)
    if result.replay_failure is not None:
        raise ScenarioMissing(f"{recorded.name}: the recorded history does not replay: {result.replay_failure}")


async def _run(name: str, scenario: Scenario, rig: Rig, out: Path, failures: dict[str, str]) -> None:
    started = time.monotonic()
    print(f"{name}: recording…", flush=True)
    try:
        runs = await scenario(rig)
        for recorded in runs:
            await replays(recorded)
    except Exception as err:  # reported; the other scenarios are still recorded
        failures[name] = f"{type(err).__name__}: {err}"
        print(f"{name}: FAILED after {time.monotonic() - started:.0f}s: {failures[name]}", flush=True)
        return
    for recorded in runs:
        path = out / f"{recorded.name}.json"
        write_fixture(path, recorded.history)
        print(f"{name}: wrote {path} ({len(recorded.history.events)} history events)", flush=True)
    print(f"{name}: done in {time.monotonic() - started:.0f}s", flush=True)


async def record(scenarios: Sequence[str], out: Path) -> dict[str, str]:
    """Record `scenarios` (none of whose files exist) into `out`; returns {scenario: why it failed}."""
    from activities.store import create_pool, embedded_url, migrate
    from tests.conftest import register_search_attributes

    out.mkdir(parents=True, exist_ok=True)
    failures: dict[str, str] = {}
    pool = await create_pool(embedded_url(Path(tempfile.mkdtemp(prefix="record-pg-")) / "pg"))
    await migrate(pool)
    channels = _Channels()
    try:
        dev = [name for name in scenarios if name in DEV]
        if dev:
            async with await WorkflowEnvironment.start_local(
                dev_server_existing_path=find_binary("temporal"),
                search_attributes=sa.ALL,
                data_converter=data_converter,
                dev_server_extra_args=[
                    "--dynamic-config-value",
                    f"limit.historyCount.suggestContinueAsNew={CONTINUE_AS_NEW_AT}",
                ],
            ) as env:
                rig = Rig(env, pool, channels, skipping=False)
                for name in dev:
                    await _run(name, DEV[name], rig, out, failures)
        skipping = [name for name in scenarios if name in SKIPPING]
        if skipping:
            async with await WorkflowEnvironment.start_time_skipping(
                test_server_existing_path=find_binary("temporal-test-server"), data_converter=data_converter
            ) as env:
                await register_search_attributes(env.client)
                rig = Rig(env, pool, channels, skipping=True)
                for name in skipping:
                    await _run(name, SKIPPING[name], rig, out, failures)
    finally:
        channels.close()
        await pool.close()
    return failures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.replay.record", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenario", action="append", choices=SCENARIOS, metavar="NAME", help=f"one of: {', '.join(SCENARIOS)}"
    )
    parser.add_argument("--out", type=Path, default=HISTORIES, help=f"directory of the fixtures (default {HISTORIES})")
    args = parser.parse_args(argv)
    # The scenarios' deliberate failures (an unknown Slack hook, a payment outage) log tracebacks.
    configure_logging(os.environ.get("RECOVERY_LOG_LEVEL", "ERROR"))
    logging.getLogger("temporalio").setLevel(os.environ.get("RECOVERY_LOG_LEVEL", "CRITICAL"))
    wanted = args.scenario or list(SCENARIOS)
    todo, kept = plan(wanted, args.out)
    for scenario, paths in kept.items():
        print(f"{scenario}: left untouched, already recorded ({', '.join(str(p) for p in paths)})")
    if not todo:
        print("nothing to record")
        return 0
    started = time.monotonic()
    failures = asyncio.run(record(todo, args.out))
    print(f"recorded {len(todo) - len(failures)} of {len(todo)} scenarios in {time.monotonic() - started:.0f}s")
    for scenario, why in failures.items():
        print(f"  FAILED {scenario}: {why}")
    return 1 if failures else 0


if __name__ == "__main__":
    from activities.store import stop_embedded

    code = main()
    stop_embedded()  # os._exit skips atexit, where the embedded PostgreSQL would otherwise stop
    # Skip interpreter finalization: the Temporal runtime's threads can abort it after a run.
    sys.stdout.flush()
    os._exit(code)

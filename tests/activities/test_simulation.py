"""The policy simulator on a recorded set of cases: real workflows on the time-skipping server,
their domain events projected into PostgreSQL, then replayed from the event store under candidates.

Four cases open together under a 1h acknowledge budget and are acknowledged 30, 50, 70 and 110
minutes later: as recorded, the last two breached. A 40-minute budget adds the 50-minute case's
breach; a 90-minute budget removes the 70-minute case's breach; the recorded policy itself changes
nothing (the simulator reproduces what really happened)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
from temporalio.testing import WorkflowEnvironment

from activities.notifications import Notifier
from activities.store.history import load_histories
from starter.cases import open_case, run_step
from tests.helpers import AGENT, WebhookReceiver, eventually, fast_policy, ticket
from worker import build_worker
from workflows.models import AcknowledgeInput
from workflows.simulation import CaseHistory, format_simulation, simulate
from workflows.simulation.replay import simulate_case

QUEUE = "recovery-skip-sim"
ACK_AFTER = {"a": 30, "b": 50, "c": 70, "d": 110}  # minutes


async def record_cases(env: WorkflowEnvironment, db: asyncpg.Pool, receiver: WebhookReceiver) -> list[CaseHistory]:
    client = env.client
    policy = fast_policy(ack="1h", interval="30m")
    async with build_worker(client, pool=db, queue=QUEUE, notifier=Notifier(receiver.url), versioning=False):
        opened = {
            key: await open_case(
                client, ticket(f"sim-{key}", customer=f"cust-sim-{key}", order=f"ord-{key}"), policy, QUEUE
            )
            for key in ACK_AFTER
        }
        elapsed = 0
        for key, minutes in ACK_AFTER.items():
            await env.sleep(timedelta(minutes=minutes - elapsed))
            elapsed = minutes
            await run_step(client, opened[key].case_id, "acknowledge", AcknowledgeInput(actor=AGENT, message="Sorry."))

        async def stored() -> list[CaseHistory]:
            histories = await load_histories(db)
            done = [h for h in histories if any(e.type == "acknowledged" for e in h.events)]
            assert len(done) == 4, [h.workflow_id for h in histories]
            return histories

        # Every event up to each acknowledgement is stored (the loader stops at a gap in a case's sequence).
        return await eventually(stored, timeout=60)


def with_ack(minutes: int) -> object:
    data = fast_policy(ack="1h", interval="30m").model_dump(mode="json")
    for deadlines in data["severities"].values():
        deadlines["acknowledge"] = f"{minutes}m"
    data["version"] = f"ack-{minutes}m"
    from workflows.policy import Policy

    return Policy.model_validate(data)


def ack_row(report: object, severity: str = "normal") -> object:
    return next(r for r in report.steps if r.severity == severity and r.step == "acknowledge")  # type: ignore[attr-defined]


async def test_shorter_ack_adds_breaches_longer_removes_them(
    skip_env: WorkflowEnvironment, db: asyncpg.Pool, receiver: WebhookReceiver
) -> None:
    histories = await record_cases(skip_env, db, receiver)
    assert len(histories) == 4

    same = simulate(histories, fast_policy(ack="1h", interval="30m"))
    assert same.totals.cases == 4 and same.totals.changed == 0
    assert same.totals.actual_breaches == same.totals.candidate_breaches == 2
    row = ack_row(same)
    assert (row.actual.completed, row.actual.breaches, row.actual.attainment_pct) == (4, 2, 50.0)  # type: ignore[attr-defined]
    assert row.actual == row.candidate  # type: ignore[attr-defined]

    shorter = simulate(histories, with_ack(40))  # type: ignore[arg-type]
    assert (shorter.totals.actual_breaches, shorter.totals.candidate_breaches) == (2, 3)
    changed = {c.case_id: c.why for c in shorter.changed}
    assert sorted(changed) == ["cust-sim-b:ord-b", "cust-sim-c:ord-c", "cust-sim-d:ord-d"]
    why = changed["cust-sim-b:ord-b"]
    assert why[0].startswith("acknowledge: breached under the candidate (done ")
    assert "due " in why[0] and why[0].endswith("under the candidate); met as recorded")
    assert "highest escalation level 0 as recorded, 1 under the candidate" in why
    # c and d breached either way, but climb the ladder earlier (40m + 30m per level).
    assert changed["cust-sim-c:ord-c"] == ["highest escalation level 1 as recorded, 2 under the candidate"]
    assert changed["cust-sim-d:ord-d"] == ["highest escalation level 2 as recorded, 3 under the candidate"]
    row = ack_row(shorter)
    assert (row.candidate.breaches, row.candidate.attainment_pct) == (3, 25.0)  # type: ignore[attr-defined]

    longer = simulate(histories, with_ack(90))  # type: ignore[arg-type]
    assert (longer.totals.actual_breaches, longer.totals.candidate_breaches) == (2, 1)
    changed = {c.case_id: c.why for c in longer.changed}
    assert sorted(changed) == ["cust-sim-c:ord-c", "cust-sim-d:ord-d"]
    assert changed["cust-sim-c:ord-c"][0].startswith("acknowledge: met under the candidate (done ")
    assert changed["cust-sim-c:ord-c"][1] == "highest escalation level 1 as recorded, 0 under the candidate"
    assert changed["cust-sim-d:ord-d"] == ["highest escalation level 2 as recorded, 1 under the candidate"]
    assert ack_row(longer).candidate.escalations == {"1": 1}  # type: ignore[attr-defined]  # d: L1 at 90m, acked at 110m

    # Deterministic: the same input gives byte-identical output, text and JSON, whatever the order read.
    again = simulate(list(reversed(histories)), with_ack(40))  # type: ignore[arg-type]
    assert format_simulation(again) == format_simulation(shorter)
    assert again.model_dump_json() == shorter.model_dump_json()
    text = format_simulation(shorter)
    assert "cases that would change outcome:" in text and "cust-sim-b:ord-b" in text
    assert text.startswith(
        "policy simulation: candidate default@ack-40m, all stored cases\n"
        "  cases: 4   breaches: 2 as recorded → 3 under the candidate   cases with another outcome: 3"
    )
    assert (
        "  normal    acknowledge         4      50.0%→25.0%        2→3        7→8  L1:2, L2:1 → L1:3, L2:2, L3:1"
        in text
    )


def ladder(events: list[Any]) -> list[tuple[str, object, object, object]]:
    """What the ladder did: each breach and escalation, its step or level, and when."""
    return [
        (e.type, e.data.get("step"), e.data.get("level"), e.at)
        for e in events
        if e.type in ("deadline_missed", "escalated", "warning")
    ]


async def test_replayed_under_its_own_policy_a_case_breaches_and_escalates_as_the_engine_did(
    skip_env: WorkflowEnvironment, db: asyncpg.Pool, receiver: WebhookReceiver
) -> None:
    histories = await record_cases(skip_env, db, receiver)
    policy = fast_policy(ack="1h", interval="30m")
    climbed = 0
    for history in histories:
        recorded = ladder(history.events)
        until = history.events[-1].at
        simulated = ladder(simulate_case(history, policy, until).events)
        assert simulated == recorded, history.workflow_id
        climbed += sum(1 for e in recorded if e[0] == "escalated")
    assert climbed >= 3  # c reached level 1, d level 2: the comparison covers a real ladder

"""3,000 new contacts on one case at concurrency 10, on the real dev server and PostgreSQL: the case
keeps continuing as new under the steady stream of updates (each run's history stays bounded, far
below the server's 2,000 updates per run), every contact is counted exactly once, and the case still
answers afterwards. (Before: continue-as-new waited for all handlers to finish, which never happened;
past 1,999 updates the server answered 503 and the history grew to tens of MB.)

Accounting: a contact is *lost* when its event id never reached the event store, *doubled* when it was
stored as `contact_added` twice (either would also show in the case's contact_count); every call must
be answered (no faults) with the contact's own count, once. (Until the `contacts-across-runs` patch, 1
storm in 3 under load had one contact counted twice: an update the old run had completed in its last
task was applied again in the new run's first task, before the de-duplication window was on.)"""

from __future__ import annotations

import asyncio
import collections
import os
import time
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client

import starter.cases as cases
from starter.cases import CaseError, open_case, run_step, status
from tests.conftest import CONTINUE_AS_NEW_AT
from tests.helpers import AGENT, eventually, fast_policy, figure, ticket
from workflows.models import AcknowledgeInput, ContactResult

CONTACTS = int(os.environ.get("RECOVERY_STORM_CONTACTS", "3000"))
"""3,000 in every test run; `RECOVERY_STORM_CONTACTS=10000` is the issue's 10,000-contact case end to end
(about 5 min idle, too long for every run; its figures are in docs/engineers.md "Failure modes")."""
CONCURRENCY = 10
HISTORY_BOUND = 4 * CONTINUE_AS_NEW_AT
"""Events per run at most: the server suggests continuing at CONTINUE_AS_NEW_AT; the run then turns
new updates away and finishes the ones in flight (at most 10 at a time)."""


@pytest.mark.skipif(
    os.environ.get("RECOVERY_STORM") == "0",
    reason="RECOVERY_STORM=0: left out of a quick local run (about 1.5 min idle); CI always runs it",
)
@pytest.mark.timeout(720 * max(1, CONTACTS // 3000))  # 3,000: about 1.5 min idle, 3-6 min when shared
async def test_contact_storm_continues_as_new_and_counts_every_contact_once(
    client: Client, worker, task_queue: str, db: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = fast_policy(ack="30d", fix="30d", max_silence="30d")
    opened = await open_case(client, ticket("storm", customer="cust-storm"), policy, task_queue)
    gate = asyncio.Semaphore(CONCURRENCY)
    figures = {"attempts": 0, "faults": 0, "5xx": 0, "duplicates": 0}
    counted: list[int] = []
    fault_messages: list[str] = []
    retried: collections.Counter[str] = collections.Counter()
    real = cases._update_with_start

    async def observed(*args: Any) -> ContactResult:  # what the callers were told to ask again for
        try:
            return await real(*args)
        except Exception as err:
            retried[_kind(err)] += 1
            raise

    monkeypatch.setattr(cases, "_update_with_start", observed)

    async def contact(n: int) -> None:
        async with gate:
            figures["attempts"] += 1
            try:
                result = await open_case(
                    client, ticket("storm", customer="cust-storm", event=f"storm-{n}"), policy, task_queue
                )
            except CaseError as err:
                figures["faults"] += 1
                figures["5xx"] += err.code == "unavailable"
                fault_messages.append(f"storm-{n}: {err.code}: {err.message}")
                return
            figures["duplicates"] += result.duplicate
            counted.append(result.contact_count)

    started = time.monotonic()
    await asyncio.wait_for(
        asyncio.gather(*(contact(n) for n in range(CONTACTS))), timeout=600 * max(1, CONTACTS // 3000)
    )
    elapsed = time.monotonic() - started

    # The case still answers, and a redelivery of a recent contact is a duplicate.
    again = await open_case(
        client, ticket("storm", customer="cust-storm", event=f"storm-{CONTACTS - 1}"), policy, task_queue
    )
    acked = await run_step(client, opened.case_id, "acknowledge", AcknowledgeInput(actor=AGENT))
    final = await status(client, opened.case_id)

    runs = [run async for run in client.list_workflows(f"WorkflowId = '{opened.workflow_id}'")]
    lengths = [run.history_length for run in runs]

    unanswered = CONTACTS - len(counted)
    answered_twice = len(counted) - len(set(counted))
    gaps = sorted(set(range(2, CONTACTS + 2)) - set(counted))[:10]
    figure(
        f"\ncontact storm: {CONTACTS} contacts at concurrency {CONCURRENCY} in {elapsed:.0f}s; "
        f"attempts={figures['attempts']} faults={figures['faults']} 5xx={figures['5xx']} "
        f"duplicates={figures['duplicates']} unanswered={unanswered} counts answered twice={answered_twice} "
        f"never answered {gaps}; retried {dict(retried)}; {len(runs)} runs, history "
        f"max {max(lengths)} / total {sum(lengths)} events; contact_count={final.contact_count}; "
        f"faults {fault_messages[:3]}"
    )

    async def all_stored() -> int:
        return (
            await db.fetchval(
                "SELECT count(DISTINCT data->>'event_id') FROM events "
                "WHERE workflow_id = $1 AND type = 'contact_added'",
                opened.workflow_id,
            )
            == CONTACTS
        )

    try:
        await eventually(all_stored, timeout=180, interval=0.5)
    finally:
        row = await db.fetchrow(
            "SELECT count(*) AS n, max(seq) AS top, count(DISTINCT data->>'event_id') "
            "FILTER (WHERE type = 'contact_added') AS contacts FROM events WHERE workflow_id = $1",
            opened.workflow_id,
        )
        missing = await db.fetch(
            "SELECT s FROM generate_series(1, $2::int) s WHERE s NOT IN "
            "(SELECT seq FROM events WHERE workflow_id = $1) LIMIT 20",
            opened.workflow_id,
            final.last_event_seq,
        )
        stored = await db.fetch(
            "SELECT data->>'event_id' AS event_id, count(*) AS n FROM events "
            "WHERE workflow_id = $1 AND type = 'contact_added' GROUP BY 1",
            opened.workflow_id,
        )
        times = {r["event_id"]: r["n"] for r in stored}
        lost = sum(f"storm-{n}" not in times for n in range(CONTACTS))
        doubled = sum(n > 1 for n in times.values())
        figure(
            f"\nevent store: {row['n']} events, top seq {row['top']}, {row['contacts']} contacts; case at seq "
            f"{final.last_event_seq}; first missing seqs {[r['s'] for r in missing]}; lost={lost} doubled={doubled}"
        )
    stored_count = await db.fetchval("SELECT contact_count FROM cases WHERE workflow_id = $1", opened.workflow_id)

    assert lost == 0 and doubled == 0
    assert figures["faults"] == 0 and figures["5xx"] == 0 and figures["duplicates"] == 0
    assert unanswered == 0 and answered_twice == 0
    assert sorted(counted) == list(range(2, CONTACTS + 2))  # each contact got its own count, once
    assert final.contact_count == CONTACTS + 1 == stored_count
    assert again.duplicate and again.contact_count == CONTACTS + 1
    assert acked.step == "fix"
    assert len(runs) > 1 and max(lengths) <= HISTORY_BOUND, lengths


def _kind(err: Exception) -> str:
    cause = getattr(err, "cause", None)
    if cause is not None:
        return str(getattr(cause, "type", None) or type(cause).__name__)
    status = getattr(err, "status", None)
    return f"{type(err).__name__} {status.name if status is not None else ''}".strip()

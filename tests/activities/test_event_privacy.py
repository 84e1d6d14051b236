"""Customer data in the event store (issue 15.11): with payload keys, customers' words are stored
encrypted with those keys and the read model is unchanged; a customer's texts can be erased."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import datetime, timedelta, timezone

import asyncpg

from activities.store.privacy import customer_digest, erase_customer
from activities.store.projection import project, rebuild, stored_events
from recovery.codec import EncryptionCodec
from tests.helpers import AGENT, fast_policy, ticket
from workflows.case import Case
from workflows.effects import ProjectionBatch
from workflows.models import AcknowledgeInput, DomainEvent, FixInput, PauseInput

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
CODEC = EncryptionCodec({"k1": os.urandom(32)}, current="k1")


def case_events(canary: str, customer: str) -> tuple[str, list[DomainEvent]]:
    workflow_id = f"complaint-{customer}:ord-1"
    case = Case.open(ticket(1, customer=customer, subject=f"Subject {canary}"), fast_policy(ack="1h"), workflow_id, T0)
    case.acknowledge(AcknowledgeInput(actor=AGENT, message=f"Sorry {canary}"), T0 + timedelta(minutes=5))
    case.record_fix(FixInput(actor=AGENT, description=f"Fixed {canary}"), T0 + timedelta(minutes=9))
    case.tick(T0 + timedelta(hours=5))  # an escalation: an engine reason the reports group by
    case.pause(PauseInput(actor=AGENT, reason=f"Waiting on {canary}"), T0 + timedelta(hours=6))
    return workflow_id, list(case.state.events)


async def raw_rows(db: asyncpg.Pool, workflow_id: str) -> str:
    rows = await db.fetch("SELECT type, data::text AS data, sealed FROM events WHERE workflow_id = $1", workflow_id)
    return repr([dict(r) for r in rows])


async def test_event_texts_are_encrypted_with_the_payload_keys(db: asyncpg.Pool) -> None:
    canary = f"canary{uuid.uuid4().hex}"
    workflow_id, events = case_events(canary, "c-sealed")
    await project(
        db,
        ProjectionBatch(workflow_id=workflow_id, case_id=workflow_id.removeprefix("complaint-"), events=events),
        CODEC,
    )
    assert canary not in await raw_rows(db, workflow_id)
    async with db.acquire() as conn:
        with_key = await stored_events(conn, workflow_id, CODEC)
        without_key = await stored_events(conn, workflow_id)
    assert [e.data for e in with_key] == [e.model_dump(mode="json")["data"] for e in events]
    assert without_key[0].data["customer_id"] == "c-sealed" and "subject" not in without_key[0].data
    # The read model and the reports' facts need no key.
    case = await db.fetchrow("SELECT step, paused, customer_id FROM cases WHERE workflow_id = $1", workflow_id)
    assert dict(case) == {"step": "compensate", "paused": True, "customer_id": "c-sealed"}
    reasons = await db.fetch(
        "SELECT data->>'reason' AS reason FROM events WHERE workflow_id = $1 AND type = 'escalated'", workflow_id
    )
    assert reasons and all(r["reason"] for r in reasons)


async def test_erase_customer_removes_every_text_of_their_cases_and_only_theirs(db: asyncpg.Pool) -> None:
    gone, kept = f"canary{uuid.uuid4().hex}", f"canary{uuid.uuid4().hex}"
    for canary, customer, codec in ((gone, "c-gone", None), (kept, "c-kept", None), (gone, "c-gone2", CODEC)):
        workflow_id, events = case_events(canary, customer)
        await project(
            db,
            ProjectionBatch(workflow_id=workflow_id, case_id=workflow_id.removeprefix("complaint-"), events=events),
            codec,
        )
    assert gone in await raw_rows(db, "complaint-c-gone:ord-1")  # without keys: plain text, as documented
    before = await db.fetch("SELECT * FROM cases ORDER BY workflow_id")
    # The console's copies: a message the customer was sent, and a status snapshot naming the subject.
    for workflow_id, canary in (("complaint-c-gone:ord-1", gone), ("complaint-c-kept:ord-1", kept)):
        await db.execute(
            "INSERT INTO customer_messages (key, workflow_id, case_id, template, title, text) "
            "VALUES ($1, $2, $3, 'acknowledgement', 'Sorry', $4)",
            f"{workflow_id}:2:0",
            workflow_id,
            workflow_id.removeprefix("complaint-"),
            f"About {canary}",
        )
        await db.execute(
            "INSERT INTO case_status (workflow_id, case_id, last_seq, status) VALUES ($1, $2, 1, $3)",
            workflow_id,
            workflow_id.removeprefix("complaint-"),
            f'{{"subject": "{canary}"}}',
        )

    erased = await erase_customer(db, "c-gone", erased_by="ops-alice")
    assert erased.cases == 1 and erased.events >= 5
    erased2 = await erase_customer(db, "c-gone2", erased_by="ops-alice")
    assert erased2.cases == 1

    for workflow_id in ("complaint-c-gone:ord-1", "complaint-c-gone2:ord-1"):
        raw = await raw_rows(db, workflow_id)
        assert gone not in raw and "'sealed': None" in raw and "Waiting on" not in raw
        async with db.acquire() as conn:
            assert all(e.data.get("erased") for e in await stored_events(conn, workflow_id, CODEC))
    assert kept in await raw_rows(db, "complaint-c-kept:ord-1")
    copies = repr([dict(r) for r in await db.fetch("SELECT * FROM customer_messages")]) + repr(
        [dict(r) for r in await db.fetch("SELECT * FROM case_status")]
    )
    assert gone not in copies and kept in copies
    log = await db.fetch("SELECT customer_sha256, erased_by, cases FROM erasures ORDER BY id")
    assert dict(log[0]) == {"customer_sha256": customer_digest("c-gone"), "erased_by": "ops-alice", "cases": 1}
    assert "c-gone" not in repr([dict(r) for r in log])
    # Erasure keeps the read model: a rebuild from the erased events gives the same rows.
    assert await rebuild(db) == 3
    assert await db.fetch("SELECT * FROM cases ORDER BY workflow_id") == before


async def test_erase_customer_command(db: asyncpg.Pool, db_url: str) -> None:
    import subprocess
    import sys
    from pathlib import Path

    canary = f"canary{uuid.uuid4().hex}"
    workflow_id, events = case_events(canary, "c-cli")
    await project(db, ProjectionBatch(workflow_id=workflow_id, case_id="c-cli:ord-1", events=events))
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DATABASE_URL": db_url}
    run = [sys.executable, "-m", "starter.cli", "erase-customer"]
    refused = await asyncio.to_thread(
        subprocess.run, [*run, "c-cli"], cwd=root, capture_output=True, text=True, env=env, timeout=60
    )
    assert refused.returncode == 2 and "--by" in refused.stderr
    done = await asyncio.to_thread(
        subprocess.run,
        [*run, "c-cli", "--by", "dpo@example.com", "--event-store-only"],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "in 1 cases of customer c-cli" in done.stdout
    assert canary not in await raw_rows(db, workflow_id)

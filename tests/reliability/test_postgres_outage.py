"""PostgreSQL goes away for 30 s while cases open and climb their ladder: afterwards every case's stored
events are 1..N with no gap, and every notification reached its receiver exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import asyncpg
from temporalio.client import Client

from activities.notifications import Notifier
from activities.store import create_pool
from starter.cases import open_case, status
from tests.helpers import WebhookReceiver, eventually, fast_policy, figure, ticket
from tests.tcp_proxy import DatabaseProxy
from worker import build_worker

CASES = 6
OUTAGE_S = 30


async def test_a_30_s_postgresql_outage_loses_no_event_and_no_page(
    client: Client, task_queue: str, db_url: str, db: asyncpg.Pool, receiver: WebhookReceiver
) -> None:
    proxy = DatabaseProxy(db_url)
    await proxy.start()
    pool = await create_pool(proxy.url, min_size=1, max_size=5, connect_timeout=2)
    # The ladder's three levels at 6, 9 and 12 s: all of them while the database is away.
    policy = fast_policy(ack="6s", interval="3s")
    try:
        notifier = Notifier(receiver.url, pool=pool)  # with its delivery log, as in production
        async with build_worker(client, pool=pool, queue=task_queue, notifier=notifier):
            run = uuid.uuid4().hex[:6]
            cases = [
                (await open_case(client, ticket(f"pg{n}-{run}", customer=f"cust-pg-{run}-{n}"), policy, task_queue))
                for n in range(CASES)
            ]
            await proxy.cut()
            down_at = time.monotonic()
            await asyncio.sleep(OUTAGE_S)  # the outage itself: nothing to wait on while the database is gone
            await proxy.restore()

            async def all_stored() -> dict[str, int]:
                seqs = {}
                for case in cases:
                    known = await status(client, case.case_id)
                    if known.escalation_level < 3:
                        return {}
                    stored = [
                        r["seq"]
                        for r in await db.fetch(
                            "SELECT seq FROM events WHERE workflow_id = $1 ORDER BY seq", case.workflow_id
                        )
                    ]
                    if stored != list(range(1, known.last_event_seq + 1)):
                        return {}
                    seqs[case.case_id] = known.last_event_seq
                return seqs

            stored = await eventually(all_stored, timeout=120, interval=1)
            recovered_after = time.monotonic() - down_at
    finally:
        pool.terminate()
        await proxy.close()

    pages = Counter(item["idempotency_key"] for item in receiver.received)
    doubled = {key: n for key, n in pages.items() if n > 1}
    escalations = {i["idempotency_key"] for i in receiver.received if i["template"] == "escalation"}
    assert not doubled, doubled
    assert len(escalations) >= 3 * CASES, sorted(escalations)  # each case's three levels, to the lead(s)
    for case in cases:
        timeline = await db.fetch(
            "SELECT type FROM events WHERE workflow_id = $1 AND type IN ('unreachable', 'notification_failed')",
            case.workflow_id,
        )
        assert not timeline, (case.case_id, [r["type"] for r in timeline])
    figure(
        f"\npostgresql outage: {CASES} cases, database away {OUTAGE_S} s across every deadline, "
        f"events stored without a gap ({sum(stored.values())} in all, lost = 0), "
        f"{len(pages)} notifications, doubled = 0, recovered within {recovered_after:.0f} s"
    )

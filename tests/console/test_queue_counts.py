"""The queue's tab counts agree with the tabs: each count is the number of rows its tab lists, page after
page, with and without filters. The cases are bench (l)'s (the step machine, every queue state, closed
ones too), projected with their status snapshots as the workflow's projector writes them."""

from __future__ import annotations

import uuid

import asyncpg

from activities.store.projection import project
from bench.read_model import ME, batch_of, make_case, now_utc
from console import readmodel
from workflows.policy_files import load_policy

CASES = 160


async def listed(db: asyncpg.Pool, tab: str, filters: readmodel.Filters) -> int:
    total, page = 0, 1
    while True:
        result = await readmodel.queue(db, tab, ME.id, filters, page)
        total += len(result.rows)
        if not result.has_next:
            return total
        page += 1


async def test_every_tab_count_is_what_the_tab_lists(db: asyncpg.Pool) -> None:
    policy, now, nonce = load_policy(None), now_utc(), uuid.uuid4().hex[:6]
    for i in range(CASES):
        assert await project(db, batch_of(make_case(policy, nonce, i, CASES, now, 30), now))
    everything = await readmodel.counts(db, ME.id, readmodel.Filters())
    assert all(everything.values()), everything  # every tab has cases to count
    for filters in (
        readmodel.Filters(),
        readmodel.Filters(severity="high"),
        readmodel.Filters(step="fix", source="email"),
        readmodel.Filters(customer="cust-0000"),
    ):
        counts = await readmodel.counts(db, ME.id, filters)
        assert {tab: await listed(db, tab, filters) for tab in readmodel.TABS} == counts, filters

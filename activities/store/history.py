"""Stored case histories for the policy simulator: every domain event of the cases opened in a window,
read in one query, in workflow-id and sequence order (so the simulation's input is deterministic)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg

from workflows.models import DomainEvent
from workflows.simulation import CaseHistory, StoredRow

_HISTORIES = """
SELECT e.workflow_id, e.seq, e.type, e.at, e.actor, e.data
FROM events e
JOIN (
    SELECT workflow_id FROM events
    WHERE type = 'opened' AND seq = 1
      AND ($1::timestamptz IS NULL OR at >= $1)
      AND ($2::timestamptz IS NULL OR at <  $2)
) opened USING (workflow_id)
ORDER BY e.workflow_id, e.seq
"""


async def load_histories(
    pool: asyncpg.Pool, since: datetime | None = None, until: datetime | None = None
) -> list[CaseHistory]:
    """The cases opened in [since, until) with all their stored events (later ones included)."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        rows = await conn.fetch(_HISTORIES, since, until)
    histories: list[CaseHistory] = []
    current: CaseHistory | None = None
    for row in rows:
        if current is None or current.workflow_id != row["workflow_id"]:
            current = CaseHistory.model_construct(workflow_id=row["workflow_id"], events=[])
            histories.append(current)
        if row["seq"] != len(current.events) + 1:
            continue  # after a gap (a batch still in flight): the history so far is what is known
        # Rows come from the engine's own projection: trusted, so built without re-validation.
        current.events.append(
            DomainEvent.model_construct(
                seq=row["seq"], type=row["type"], at=row["at"], actor=row["actor"], data=json.loads(row["data"])
            )
        )
    return histories


async def load_history_rows(
    pool: asyncpg.Pool, since: datetime | None = None, until: datetime | None = None
) -> list[StoredRow]:
    """`load_histories` as plain tuples with each event's data still JSON text, for `simulate_stored`:
    the worker processes decode it, and no model is built per event (the read's main cost)."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        rows = await conn.fetch(_HISTORIES, since, until)
    histories: list[StoredRow] = []
    workflow_id: str | None = None
    events: list[tuple[int, str, datetime, str, str | dict[str, Any]]] = []
    for workflow, seq, type_, at, actor, data in rows:
        if workflow != workflow_id:
            workflow_id, events = workflow, []
            histories.append((workflow, events))
        if seq == len(events) + 1:  # after a gap (a batch still in flight): the history so far is what is known
            events.append((seq, type_, at, actor, data))
    return histories

"""What the console reads, all from PostgreSQL (the read model, the event store, the ledger and the
customer-message log), never Temporal queries: each of those is a worker round trip and a billable
action on Temporal Cloud."""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from console.deliveries import with_deliveries
from workflows.models import CaseStatus, DomainEvent

PAGE_SIZE = 25

TABS = {
    "mine": "Mine",
    "unassigned": "Unassigned",
    "due": "Due soon",
    "escalated": "Escalated",
    "approval": "Awaiting my approval",
    "paused": "Paused",
}

# Each tab: its condition and order; `$1` is the signed-in agent's id.
_TAB_SQL = {
    "mine": ("c.assignee = $1", "s.due_at ASC NULLS LAST, c.opened_at"),
    "unassigned": ("c.assignee IS NULL", "c.opened_at"),
    "due": ("s.due_at IS NOT NULL AND NOT c.paused", "s.due_at"),
    "escalated": ("c.escalation_level > 0", "c.escalation_level DESC, s.due_at ASC NULLS LAST"),
    "approval": (
        "s.status->'pending_compensation'->>'status' = 'pending_approval' "
        "AND s.status->'pending_compensation'->'proposed_by'->>'id' <> $1",
        "s.updated_at",
    ),
    "paused": ("c.paused", "c.opened_at"),
}

_OPEN = "c.closed_at IS NULL"
_ON_STATUS = re.compile(r"\bs\.")
"""A condition on the status snapshot (`s.`, case_status) rather than on the case's row (`c.`)."""
# A proactive case's `opened` event has the event id `proactive:<rule>:<ref>` (starter/intake/proactive.py).
_RULES = (
    "SELECT workflow_id, split_part(data->>'event_id', ':', 2) AS rule FROM events "
    "WHERE workflow_id = ANY($1::text[]) AND seq = 1"
)


@dataclass
class Filters:
    severity: str | None = None
    step: str | None = None
    source: str | None = None
    customer: str | None = None

    def clauses(self, args: list[Any]) -> list[str]:
        out = []
        for column, value in (("c.severity", self.severity), ("c.step", self.step), ("c.source", self.source)):
            if value:
                args.append(value)
                out.append(f"{column} = ${len(args)}")
        if self.customer:
            args.append(self.customer.replace("%", r"\%").replace("_", r"\_") + "%")
            out.append(f"c.customer_id LIKE ${len(args)}")
        return out


@dataclass
class QueueRow:
    case_id: str
    workflow_id: str
    subject: str
    customer_id: str
    source: str
    severity: str
    step: str
    escalation_level: int
    escalation_role: str | None
    assignee: str | None
    paused: bool
    due_at: datetime | None
    contact_count: int
    pending: dict[str, Any] | None
    rule: str | None = None
    """A proactive case's rule (overcharge, late_delivery, …), from its `opened` event's id."""


@dataclass
class QueuePage:
    rows: list[QueueRow]
    page: int
    has_next: bool
    counts: dict[str, int] = field(default_factory=dict)


async def queue(pool: asyncpg.Pool, tab: str, me: str, filters: Filters, page: int = 1) -> QueuePage:
    where, order = _TAB_SQL[tab]
    where = f"$1::text IS NOT NULL AND {where}"  # every tab's query takes the agent's id as $1
    args: list[Any] = [me]
    clauses = [_OPEN, where, *filters.clauses(args)]
    args += [PAGE_SIZE + 1, (page - 1) * PAGE_SIZE]
    sql = (
        f"SELECT c.*, s.due_at, s.status FROM cases c LEFT JOIN case_status s USING (workflow_id) "
        f"WHERE {' AND '.join(clauses)} ORDER BY {order}, c.workflow_id "
        f"LIMIT ${len(args) - 1} OFFSET ${len(args)}"
    )
    found = await pool.fetch(sql, *args)
    # The rules of the page's proactive cases only: joined in the query, the `opened` event was read
    # for every row an OFFSET skips too.
    proactive = [r["workflow_id"] for r in found if r["source"] == "proactive"]
    rules = {r["workflow_id"]: r["rule"] for r in await pool.fetch(_RULES, proactive)} if proactive else {}
    rows = []
    for r in found:
        status = json.loads(r["status"]) if r["status"] else {}
        rows.append(
            QueueRow(
                case_id=r["case_id"],
                workflow_id=r["workflow_id"],
                subject=status.get("subject", ""),
                customer_id=r["customer_id"],
                source=r["source"],
                severity=r["severity"],
                step=r["step"],
                escalation_level=r["escalation_level"],
                escalation_role=status.get("escalation_role"),
                assignee=r["assignee"],
                paused=r["paused"],
                due_at=r["due_at"],
                contact_count=r["contact_count"],
                pending=status.get("pending_compensation"),
                rule=rules.get(r["workflow_id"]) or None,
            )
        )
    return QueuePage(
        rows=rows[:PAGE_SIZE], page=page, has_next=len(rows) > PAGE_SIZE, counts=await counts(pool, me, filters)
    )


async def counts(pool: asyncpg.Pool, me: str, filters: Filters) -> dict[str, int]:
    args: list[Any] = [me]
    where = " AND ".join([_OPEN, *filters.clauses(args)])
    # The tabs on the case's own columns count the open cases (index `cases_open_queue`); those on the
    # status snapshot join it from their own index, not all of case_status (one row per case ever).
    parts = ", ".join(
        f"(SELECT count(*) FROM case_status s JOIN cases c USING (workflow_id) WHERE {where} AND {cond}) AS {tab}"
        if _ON_STATUS.search(cond)
        else f"count(*) FILTER (WHERE {cond}) AS {tab}"
        for tab, (cond, _) in _TAB_SQL.items()
    )
    row = await pool.fetchrow(f"SELECT {parts} FROM cases c WHERE {where}", *args)
    return {tab: row[tab] for tab in _TAB_SQL}


async def facets(pool: asyncpg.Pool) -> dict[str, list[str]]:
    """The sources present among open cases, for the filter."""
    rows = await pool.fetch(f"SELECT DISTINCT source FROM cases c WHERE {_OPEN} ORDER BY source")
    return {"source": [r["source"] for r in rows]}


@dataclass
class CaseView:
    workflow_id: str
    status: CaseStatus | None
    row: dict[str, Any] | None
    events: list[DomainEvent]
    ledger: list[dict[str, Any]]
    messages: list[dict[str, Any]]


async def case_view(pool: asyncpg.Pool, workflow_id: str) -> CaseView | None:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        row = await conn.fetchrow("SELECT * FROM cases WHERE workflow_id = $1", workflow_id)
        snap = await conn.fetchval("SELECT status FROM case_status WHERE workflow_id = $1", workflow_id)
        events = await conn.fetch(
            "SELECT seq, type, at, actor, data FROM events WHERE workflow_id = $1 ORDER BY seq", workflow_id
        )
        if row is None and not events:
            return None
        ledger = await conn.fetch(
            "SELECT idempotency_key, kind, amount, currency, mode, status, reference, detail, issued_by, approved_by, "
            "updated_at FROM ledger WHERE workflow_id = $1 ORDER BY created_at",
            workflow_id,
        )
        messages = await conn.fetch(
            "SELECT key, template, title, text, sent_at, tracked FROM customer_messages "
            "WHERE workflow_id = $1 ORDER BY sent_at, key",
            workflow_id,
        )
    timeline = [
        DomainEvent(seq=e["seq"], type=e["type"], at=e["at"], actor=e["actor"], data=json.loads(e["data"]))
        for e in events
    ]
    return CaseView(
        workflow_id=workflow_id,
        status=CaseStatus.model_validate_json(snap) if snap else None,
        row=dict(row) if row else None,
        events=timeline,
        ledger=[dict(r) for r in ledger],
        messages=with_deliveries([dict(m) for m in messages], timeline),
    )


async def granted_to_customer(pool: asyncpg.Pool, customer_id: str, currency: str, since: datetime) -> Any:
    """What the ledger has granted this customer in `currency` since `since`, across all their cases."""
    return await pool.fetchval(
        "SELECT coalesce(sum(amount), 0) FROM ledger WHERE customer_id = $1 AND currency = $2 "
        "AND status IN ('succeeded', 'pending') AND created_at > $3",
        customer_id,
        currency,
        since,
    )


async def wait_for_seq(pool: asyncpg.Pool, workflow_id: str, seq: int, timeout: float = 5.0) -> bool:
    """Read your own write: wait (bounded) until the read model has the case up to event `seq`."""
    deadline = time.monotonic() + timeout
    while True:
        have = await pool.fetchval("SELECT last_seq FROM case_status WHERE workflow_id = $1", workflow_id)
        if have is not None and have >= seq:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)

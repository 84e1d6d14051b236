"""The projection: domain events → event table → read model.

Delivery is at least once and in any order (activities retry; batches race), so the event insert
ignores duplicates and the read model is recomputed from the case's stored events, folded in
sequence order up to the first gap, and written only when that reaches a newer sequence. The same
fold rebuilds the whole read model (`recovery db rebuild`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.cause_feed import CauseWatchFeed
from activities.store import case_figures, privacy
from recovery.codec import EncryptionCodec
from workflows.effects import PROJECT_EVENTS, ProjectionBatch
from workflows.models import CaseStatus, DomainEvent, case_id_of
from workflows.policy import STEP_ORDER, Step, next_step

log = structlog.get_logger("projection")


@dataclass
class Projection:
    case: dict[str, Any] | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    compensations: list[dict[str, Any]] = field(default_factory=list)
    last_seq: int = 0


_STEP_NAMES = {step.value for step in STEP_ORDER}


def fold(workflow_id: str, events: list[DomainEvent]) -> Projection:
    """The read model of one case from its events (any order, duplicates allowed)."""
    by_seq = {e.seq: e for e in events}
    result = Projection()
    seq = 1
    case: dict[str, Any] | None = None
    round_ = 1
    while seq in by_seq:
        e = by_seq[seq]
        d = e.data
        if e.type == "opened":
            case = {
                "workflow_id": workflow_id,
                "case_id": case_id_of(workflow_id),
                "customer_id": d.get("customer_id", ""),
                "source": d.get("source", ""),
                "opening_severity": d["severity"],
                "severity": d["severity"],
                "step": "acknowledge",
                "escalation_level": 0,
                "max_escalation_level": 0,
                "contact_count": 1,
                "paused": False,
                "breaches": 0,
                "opened_at": e.at,
                "acknowledged_at": None,
                "fixed_at": None,
                "compensated_at": None,
                "closed_at": None,
                "root_cause": None,
                "csat": None,
                "anomalies": d.get("anomalies", []),
                "assignee": None,
            }
            result.steps.append(_step(workflow_id, 1, "acknowledge", d["severity"], e.at))
        elif case is None:
            break  # events before "opened" can't be folded
        elif e.type == "severity_changed":
            case["severity"] = d["severity"]
            result.steps[-1]["severity"] = d["severity"]
        elif e.type in ("contact_added", "customer_replied"):  # a reply the case waited for does not count
            case["contact_count"] = d.get("contact_count", case["contact_count"] + 1)
        elif e.type == "escalated":
            case["escalation_level"] = d["level"]
            case["max_escalation_level"] = max(case["max_escalation_level"], d["level"])
            if d.get("reason") == "deadline missed":  # how histories before `deadline_missed` show a breach
                _breach(case, result, d.get("step"))
        elif e.type == "deadline_missed":
            _breach(case, result, d.get("step"))
        elif e.type == "assigned":
            case["assignee"] = d.get("assignee")
        elif e.type == "paused":
            case["paused"] = True
        elif e.type == "resumed":
            case["paused"] = False
        elif e.type in ("acknowledged", "fix_recorded", "compensation_issued", "closed") or (
            e.type == "follow_up_done" and d.get("outcome") != "unsatisfied"
        ):
            stamp = {
                "acknowledged": "acknowledged_at",
                "fix_recorded": "fixed_at",
                "compensation_issued": "compensated_at",
                "closed": "closed_at",
            }.get(e.type)
            if stamp and case[stamp] is None:
                case[stamp] = e.at
            if e.type == "compensation_issued":
                result.compensations.append(
                    {
                        "workflow_id": workflow_id,
                        "seq": e.seq,
                        "kind": d.get("kind"),
                        "amount": Decimal(d["value"]) if d.get("value") is not None else None,
                        "currency": d.get("currency"),
                        "issued_at": e.at,
                    }
                )
            if e.type == "closed":
                case["root_cause"] = d.get("root_cause")
            if e.type == "follow_up_done" and d.get("csat") is not None:
                case["csat"] = d["csat"]
            _complete_step(case, result, e.at, round_)
        elif e.type == "follow_up_done":  # unsatisfied: the reopened event starts the next round
            if d.get("csat") is not None:
                case["csat"] = d["csat"]
            result.steps[-1]["completed_at"] = e.at
        elif e.type == "reopened":
            round_ += 1
            case["step"] = "fix"
            result.steps.append(_step(workflow_id, round_, "fix", case["severity"], e.at))
        result.last_seq = seq
        seq += 1
    result.case = case
    if case is not None:
        case["last_seq"] = result.last_seq
        case.update(case_figures.figures([by_seq[s] for s in range(1, seq)], result.steps, case["closed_at"]))
        for compensation in result.compensations:  # the causes report sums money by cause without a join
            compensation.update(case_closed_at=case["closed_at"], case_root_cause=case["root_cause"])
    return result


def _breach(case: dict[str, Any], result: Projection, step: Any) -> None:
    """The current step missed its deadline: counted once per step, whichever event says so first."""
    if result.steps and result.steps[-1]["step"] == step and not result.steps[-1]["breached"]:
        result.steps[-1]["breached"] = True
        case["breaches"] += 1


def _step(workflow_id: str, round_: int, step: str, severity: str, started: datetime) -> dict[str, Any]:
    return {
        "workflow_id": workflow_id,
        "round": round_,
        "step": step,
        "severity": severity,
        "started_at": started,
        "completed_at": None,
        "breached": False,
    }


def _complete_step(case: dict[str, Any], result: Projection, at: datetime, round_: int) -> None:
    current = case["step"]
    if result.steps and result.steps[-1]["step"] == current and result.steps[-1]["completed_at"] is None:
        result.steps[-1]["completed_at"] = at
    following = next_step(Step(current)).value if current in _STEP_NAMES else Step.CLOSED.value
    case["step"] = following
    if following != "closed":
        result.steps.append(_step(case["workflow_id"], round_, following, case["severity"], at))


# ---- writing ----------------------------------------------------------------------------------

_CASE_COLUMNS = [
    "workflow_id",
    "case_id",
    "customer_id",
    "source",
    "opening_severity",
    "severity",
    "step",
    "escalation_level",
    "max_escalation_level",
    "contact_count",
    "paused",
    "breaches",
    "opened_at",
    "acknowledged_at",
    "fixed_at",
    "compensated_at",
    "closed_at",
    "root_cause",
    "csat",
    "anomalies",
    "last_seq",
    "assignee",
    *case_figures.COLUMNS,
]
_STEP_COLUMNS = ["workflow_id", "round", "step", "severity", "started_at", "completed_at", "breached"]
_COMP_COLUMNS = ["workflow_id", "seq", "kind", "amount", "currency", "issued_at", "case_closed_at", "case_root_cause"]


_INSERT_EVENT = (
    "INSERT INTO events (workflow_id, seq, case_id, type, at, actor, data, sealed) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (workflow_id, seq) DO NOTHING"
)


def storable(value: Any) -> Any:
    """`value` with NUL characters removed from every string: PostgreSQL text and jsonb cannot hold
    U+0000, and one such character must not make a case's events unstorable for ever."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


def _row(workflow_id: str, case_id: str, event: DomainEvent, codec: EncryptionCodec | None) -> tuple[Any, ...]:
    data = storable(event.model_dump(mode="json")["data"])
    sealed = None
    if codec is not None:  # customers' words encrypted with the payload keys; facts stay queryable
        data, texts = privacy.split(event.type, data)
        sealed = privacy.seal(texts, codec)
    return (
        storable(workflow_id),
        event.seq,
        storable(case_id),
        storable(event.type),
        event.at,
        storable(event.actor),
        json.dumps(data),
        sealed,
    )


async def append_events(
    conn: asyncpg.Connection,
    workflow_id: str,
    case_id: str,
    events: list[DomainEvent],
    codec: EncryptionCodec | None = None,
) -> None:
    try:
        async with conn.transaction():  # a savepoint inside the projection's transaction
            await conn.executemany(_INSERT_EVENT, [_row(workflow_id, case_id, e, codec) for e in events])
    except asyncpg.DataError:
        # Some event the database refuses whatever the retry: store each alone, the refused ones as a
        # placeholder keeping their place in the sequence (so the read model folds past them).
        for e in events:
            try:
                async with conn.transaction():
                    await conn.execute(_INSERT_EVENT, *_row(workflow_id, case_id, e, codec))
            except asyncpg.DataError as err:
                log.error(
                    "event quarantined: the database refused it",
                    workflow_id=workflow_id,
                    seq=e.seq,
                    type=e.type,
                    error=str(err),
                    alert="projection",
                )
                placeholder = DomainEvent(
                    seq=e.seq,
                    type=e.type,
                    at=e.at,
                    actor="engine",
                    data={"quarantined": f"{type(err).__name__}: {err}"[:500]},
                )
                await conn.execute(_INSERT_EVENT, *_row(workflow_id, case_id, placeholder, codec))


async def stored_events(
    conn: asyncpg.Connection, workflow_id: str, codec: EncryptionCodec | None = None
) -> list[DomainEvent]:
    """A case's stored events; sealed texts are merged back when `codec` holds their key."""
    rows = await conn.fetch(
        "SELECT seq, type, at, actor, data, sealed FROM events WHERE workflow_id = $1 ORDER BY seq", workflow_id
    )
    return _events(rows, codec)


def _events(rows: list[asyncpg.Record], codec: EncryptionCodec | None) -> list[DomainEvent]:
    return [
        DomainEvent(
            seq=r["seq"],
            type=r["type"],
            at=r["at"],
            actor=r["actor"],
            data={**json.loads(r["data"]), **(privacy.unseal(r["sealed"], codec) if r["sealed"] else {})},
        )
        for r in rows
    ]


async def refresh_case(conn: asyncpg.Connection, workflow_id: str) -> bool:
    """Recompute the case's read model from its events; write it only if it reaches a newer sequence."""
    # the events and the read model's sequence in one round trip (under the case's lock: nothing moves between)
    rows = await conn.fetch(
        "SELECT seq, type, at, actor, data, sealed, (SELECT last_seq FROM cases WHERE workflow_id = $1) AS current "
        "FROM events WHERE workflow_id = $1 ORDER BY seq",
        workflow_id,
    )
    projection = fold(workflow_id, _events(rows, None))
    if projection.case is None:
        return False
    current = rows[0]["current"]
    if current is not None and current >= projection.last_seq:
        return False
    await write_projection(conn, projection)
    return True


async def write_projection(conn: asyncpg.Connection, projection: Projection) -> None:
    case = projection.case
    assert case is not None
    values = [json.dumps(case[c]) if c == "anomalies" else case[c] for c in _CASE_COLUMNS]
    placeholders = ", ".join(f"${i}" for i in range(1, len(_CASE_COLUMNS) + 1))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _CASE_COLUMNS[1:])
    await conn.execute(
        f"INSERT INTO cases ({', '.join(_CASE_COLUMNS)}) VALUES ({placeholders}) "
        f"ON CONFLICT (workflow_id) DO UPDATE SET {updates}",
        *values,
    )
    # One round trip for both deletes, and no COPY of nothing (most cases have no compensation): the
    # projection runs inside the notification's plan, so each round trip delays the message.
    await conn.execute(_DELETE_STEPS_AND_COMPENSATIONS, case["workflow_id"])
    if projection.steps:
        await conn.copy_records_to_table(
            "case_steps", columns=_STEP_COLUMNS, records=[tuple(s[c] for c in _STEP_COLUMNS) for s in projection.steps]
        )
    if projection.compensations:
        await conn.copy_records_to_table(
            "case_compensations",
            columns=_COMP_COLUMNS,
            records=[tuple(c[k] for k in _COMP_COLUMNS) for c in projection.compensations],
        )


_DELETE_STEPS_AND_COMPENSATIONS = (
    # a data-modifying WITH runs once and to completion whether or not the outer statement reads it
    "WITH steps AS (DELETE FROM case_steps WHERE workflow_id = $1) "
    "DELETE FROM case_compensations WHERE workflow_id = $1"
)


CHANGES_CHANNEL = "recovery_case_changed"
"""NOTIFY channel: the payload is the workflow id of a case whose read model just moved (pages listen)."""


async def project(pool: asyncpg.Pool, batch: ProjectionBatch, codec: EncryptionCodec | None = None) -> bool:
    async with pool.acquire() as conn:
        try:
            # No savepoint first (two round trips fewer, inside the message's plan): a batch the
            # database refuses rolls back and goes again through append_events, event by event.
            return await _project(conn, batch, codec, careful=False)
        except asyncpg.DataError:
            return await _project(conn, batch, codec, careful=True)


async def _project(
    conn: asyncpg.Connection, batch: ProjectionBatch, codec: EncryptionCodec | None, careful: bool
) -> bool:
    async with conn.transaction():
        # One projector per case at a time; different cases proceed in parallel.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", batch.workflow_id)
        if careful:
            await append_events(conn, batch.workflow_id, batch.case_id, batch.events, codec)
        else:
            rows = [_row(batch.workflow_id, batch.case_id, e, codec) for e in batch.events]
            await conn.executemany(_INSERT_EVENT, rows)
        changed = await refresh_case(conn, batch.workflow_id)
        if batch.status is not None:
            changed = await write_status(conn, batch) or changed
        if changed:
            await conn.execute("SELECT pg_notify($1, $2)", CHANGES_CHANNEL, batch.workflow_id)
        return changed


async def write_status(conn: asyncpg.Connection, batch: ProjectionBatch) -> bool:
    """Keep the newest status snapshot of the case (an older, redelivered batch changes nothing)."""
    status = batch.status
    assert status is not None
    result = await conn.execute(
        "INSERT INTO case_status (workflow_id, case_id, last_seq, due_at, status) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (workflow_id) DO UPDATE SET case_id = EXCLUDED.case_id, last_seq = EXCLUDED.last_seq, "
        "due_at = EXCLUDED.due_at, status = EXCLUDED.status, updated_at = now() "
        "WHERE case_status.last_seq < EXCLUDED.last_seq",
        batch.workflow_id,
        batch.case_id,
        status.last_event_seq,
        status.deadlines.due_at,
        status.model_dump_json().replace("\\u0000", ""),  # jsonb holds no NUL
    )
    return bool(result.endswith(" 1"))


async def stored_status(conn: asyncpg.Connection | asyncpg.Pool, workflow_id: str) -> CaseStatus | None:
    """The case's newest status snapshot (as of its last stored event), or None before its first batch.
    What pages read instead of asking the workflow: a query is a worker round trip and a billable action."""
    snapshot = await conn.fetchval("SELECT status FROM case_status WHERE workflow_id = $1", workflow_id)
    return CaseStatus.model_validate_json(snapshot) if snapshot else None


async def rebuild(pool: asyncpg.Pool) -> int:
    """Recreate the whole read model from the event table. Returns the number of cases."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE cases IN EXCLUSIVE MODE")
        await conn.execute("DELETE FROM cases")
        count = 0
        for row in await conn.fetch("SELECT DISTINCT workflow_id FROM events ORDER BY workflow_id"):
            projection = fold(row["workflow_id"], await stored_events(conn, row["workflow_id"]))
            if projection.case is not None:
                await write_projection(conn, projection)
                count += 1
        return count


class Projector:
    def __init__(self, pool: asyncpg.Pool, codec: EncryptionCodec | None = None, closes: CauseWatchFeed | None = None):
        self.pool = pool
        self.codec = codec
        """With the payload keys, event texts are stored encrypted (activities/store/privacy.py)."""
        self.closes = closes
        """Signals stored closes to their cause's watch (activities/cause_feed.py); retryable, never poison."""

    @activity.defn(name=PROJECT_EVENTS)
    async def project_events(self, batch: ProjectionBatch) -> int:
        try:
            await project(self.pool, batch, self.codec)
        except (asyncpg.DataError, KeyError, TypeError, ValueError) as err:
            # Not an outage: the same batch fails the same way on every attempt. The workflow skips
            # it with an alert rather than wait for ever (outages stay retryable, and are retried).
            log.error(
                "projection batch refused",
                case_id=batch.case_id,
                workflow_id=batch.workflow_id,
                error=f"{type(err).__name__}: {err}",
                alert="projection",
            )
            raise ApplicationError(
                f"the event store refused events of {batch.workflow_id}: {err}", type="PoisonBatch", non_retryable=True
            ) from None
        if self.closes is not None:
            await self.closes.report(batch)
        log.bind(case_id=batch.case_id, workflow_id=batch.workflow_id).debug(
            "projected", first=batch.events[0].seq if batch.events else None, count=len(batch.events)
        )
        return max((e.seq for e in batch.events), default=0)

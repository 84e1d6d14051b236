"""Prevention actions from the read model (`prevention_actions`, migration 013): open ones, due
soon and overdue, and done ones with their effect — the rate of the cause's closed cases per week in
the N weeks (default 4) before the action was done and in the N weeks after (so far, when fewer
have passed). Read by the causes report (`recovery.causes`), the console's /prevention page and
GET /v1/prevention; nothing asks Temporal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel

EFFECT_WEEKS = 4
MAX_EFFECT_WEEKS = 52
DUE_SOON = timedelta(days=2)
"""An open action due within this is "due soon"."""
WEEK = timedelta(days=7)
MIN_AFTER = timedelta(days=1)
"""Less than this after the action was done, there is no rate after it yet."""
UNSPECIFIED = "unspecified"


class ActionItem(BaseModel):
    id: str
    cause: str
    description: str
    owner: str
    due_at: datetime
    opened_by: str
    opened_at: datetime
    status: Literal["open", "done"]
    state: Literal["open", "due_soon", "overdue", "done"]
    """`due_soon`: due within 2 days; `overdue`: past its due date, still open."""
    reminded_at: datetime | None = None
    escalation_level: int = 0
    escalated_to: str | None = None
    done_at: datetime | None = None
    done_by: str | None = None
    note: str | None = None
    before_per_week: float | None = None
    """Done ones: the cause's closed cases per week in the N weeks before `done_at`."""
    after_per_week: float | None = None
    """Done ones: per week since `done_at`, over N weeks or those passed so far (None before a day)."""
    after_weeks: float | None = None
    """How many weeks `after_per_week` is measured over (N once N weeks have passed)."""


class DoneEffect(BaseModel):
    id: str
    done_at: datetime
    before_per_week: float
    after_per_week: float | None
    after_weeks: float | None
    description: str
    note: str | None


class OpenRef(BaseModel):
    id: str
    description: str
    owner: str
    due_at: datetime
    state: Literal["open", "due_soon", "overdue"]


class CausePrevention(BaseModel):
    """A cause's prevention actions in the causes report."""

    open: list[OpenRef] = []
    done: list[DoneEffect] = []


# $1 = now, $2 = N weeks as an interval.
ACTIONS_SQL = f"""
SELECT p.*,
       (SELECT count(*) FROM cases c
        WHERE coalesce(c.root_cause, '{UNSPECIFIED}') = p.cause
          AND c.closed_at >= p.done_at - $2::interval AND c.closed_at < p.done_at) AS before_cases,
       (SELECT count(*) FROM cases c
        WHERE coalesce(c.root_cause, '{UNSPECIFIED}') = p.cause
          AND c.closed_at >= p.done_at AND c.closed_at < least(p.done_at + $2::interval, $1)) AS after_cases
FROM prevention_actions p
ORDER BY p.status, coalesce(p.done_at, p.due_at) DESC, p.action_id
"""


def _state(row: Any, now: datetime) -> Literal["open", "due_soon", "overdue", "done"]:
    if row["status"] == "done":
        return "done"
    if row["due_at"] <= now:
        return "overdue"
    return "due_soon" if row["due_at"] - now <= DUE_SOON else "open"


def check_weeks(weeks: int) -> int:
    if not 1 <= weeks <= MAX_EFFECT_WEEKS:
        raise ValueError(f"effect weeks must be from 1 to {MAX_EFFECT_WEEKS}")
    return weeks


async def actions(conn: Any, *, now: datetime | None = None, weeks: int = EFFECT_WEEKS) -> list[ActionItem]:
    """Every prevention action: open ones by due date, then done ones, latest first."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    span = check_weeks(weeks) * WEEK
    found = []
    for r in await conn.fetch(ACTIONS_SQL, now, span):
        item = ActionItem(
            id=r["action_id"],
            cause=r["cause"],
            description=r["description"],
            owner=r["owner"],
            due_at=r["due_at"],
            opened_by=r["opened_by"],
            opened_at=r["opened_at"],
            status=r["status"],
            state=_state(r, now),
            reminded_at=r["reminded_at"],
            escalation_level=r["escalation_level"],
            escalated_to=r["escalated_to"],
            done_at=r["done_at"],
            done_by=r["done_by"],
            note=r["note"],
        )
        if r["done_at"] is not None:
            item.before_per_week = round(r["before_cases"] / weeks, 2)
            after = min(span, max(now - r["done_at"], timedelta(0)))
            if after >= MIN_AFTER:
                item.after_weeks = round(after / WEEK, 2)
                item.after_per_week = round(r["after_cases"] / (after / WEEK), 2)
        found.append(item)
    found.sort(key=lambda a: (a.status == "done", a.due_at if a.status == "open" else -_epoch(a.done_at)))
    return found


def _epoch(moment: datetime | None) -> float:
    return moment.timestamp() if moment else 0.0


def by_cause(items: list[ActionItem]) -> dict[str, CausePrevention]:
    """The causes report's `prevention` per cause."""
    result: dict[str, CausePrevention] = {}
    for a in items:
        entry = result.setdefault(a.cause, CausePrevention())
        if a.status == "open":
            assert a.state != "done"
            entry.open.append(
                OpenRef(id=a.id, description=a.description, owner=a.owner, due_at=a.due_at, state=a.state)
            )
        elif a.done_at is not None:
            entry.done.append(
                DoneEffect(
                    id=a.id,
                    done_at=a.done_at,
                    before_per_week=a.before_per_week or 0.0,
                    after_per_week=a.after_per_week,
                    after_weeks=a.after_weeks,
                    description=a.description,
                    note=a.note,
                )
            )
    return result

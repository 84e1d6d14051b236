"""`GET /v1/complaints` from the read model: the cases newest first, filtered, paged by a cursor.

A cursor (the last row's opening time and workflow id) instead of an offset: a page far in costs what
the first one does (index `cases_opened_at_workflow`, migration 018). Its token starts with `rm.`, so a
token from the visibility store (the listing without a database) is told apart.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

TOKEN_PREFIX = "rm."


@dataclass(frozen=True)
class ListFilters:
    step: str | None = None
    severity: str | None = None
    escalated: bool | None = None
    customer: str | None = None


@dataclass(frozen=True)
class Listed:
    rows: list[dict[str, Any]]
    next_token: str | None


def is_read_model_token(token: str | None) -> bool:
    return bool(token) and str(token).startswith(TOKEN_PREFIX)


def encode_token(opened_at: datetime, workflow_id: str) -> str:
    raw = f"{opened_at.isoformat()}|{workflow_id}".encode()
    return TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode()


def decode_token(token: str) -> tuple[datetime, str]:
    """The cursor of a token from a previous page; ValueError for anything else."""
    try:
        raw = base64.urlsafe_b64decode(token.removeprefix(TOKEN_PREFIX).encode()).decode()
        moment, workflow_id = raw.split("|", 1)
        opened_at = datetime.fromisoformat(moment)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("page_token is not a token from a previous page") from None
    if opened_at.tzinfo is None or not workflow_id:
        raise ValueError("page_token is not a token from a previous page")
    return opened_at, workflow_id


async def list_cases(pool: asyncpg.Pool, filters: ListFilters, page_size: int, token: str | None) -> Listed:
    args: list[Any] = []
    clauses = ["true"]
    for column, value in (
        ("c.step", filters.step),
        ("c.severity", filters.severity),
        ("c.customer_id", filters.customer),
    ):
        if value is not None:
            args.append(value)
            clauses.append(f"{column} = ${len(args)}")
    if filters.escalated is not None:
        clauses.append("c.escalation_level > 0" if filters.escalated else "c.escalation_level = 0")
    if token:
        opened_at, workflow_id = decode_token(token)
        args += [opened_at, workflow_id]
        clauses.append(f"(c.opened_at, c.workflow_id) < (${len(args) - 1}, ${len(args)})")
    args.append(page_size + 1)
    rows = await pool.fetch(
        "SELECT c.workflow_id, c.case_id, c.step, c.severity, c.escalation_level, c.customer_id, c.opened_at, "
        "c.closed_at, s.due_at FROM cases c LEFT JOIN case_status s USING (workflow_id) "
        f"WHERE {' AND '.join(clauses)} ORDER BY c.opened_at DESC, c.workflow_id DESC LIMIT ${len(args)}",
        *args,
    )
    page = [dict(r) for r in rows[:page_size]]
    more = len(rows) > page_size
    return Listed(rows=page, next_token=encode_token(page[-1]["opened_at"], page[-1]["workflow_id"]) if more else None)

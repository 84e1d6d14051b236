"""Erased cases (`recovery erase-customer`, `erased_cases`) are answered from the erased read model
or not at all: never from Temporal, whose histories still hold the texts until ops delete them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from fastapi.responses import JSONResponse

from starter.api.errors import ApiError
from starter.cases import Database, _case_workflow_id


async def erased_at(database: Database, case: str) -> datetime | None:
    """When the case was erased; None if never. PostgreSQL unreachable: 503, since the case might be
    erased and asking Temporal instead could serve its texts."""
    workflow_id = _case_workflow_id(case)
    try:
        pool: Any = await database()
        found: datetime | None = await pool.fetchval(
            "SELECT erased_at FROM erased_cases WHERE workflow_id = $1", workflow_id
        )
    except (OSError, asyncpg.PostgresError) as err:
        raise ApiError(503, "unavailable", f"cannot check the erasure log just now: {err}") from None
    return found


def gone(when: datetime) -> JSONResponse:
    return JSONResponse(
        status_code=410,
        content={
            "error": "erased",
            "detail": "this case's customer data was erased",
            "erased_at": when.isoformat(),
        },
    )

"""Replayed signed webhooks are no-ops: each one's replay key (starter/intake/replays.py) is claimed
in `webhook_seen` (INSERT … ON CONFLICT DO NOTHING) before the event is applied; a key already
there is answered 200 `{"status": "duplicate", …}` and nothing changes. A claim whose event then
fails (e.g. Temporal unreachable, answered 5xx) is released, so the sender's retry is applied.
Rows older than `seen_retention_hours` are pruned, at most once a minute per API process."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from fastapi.responses import JSONResponse
from pydantic import BaseModel

log = logging.getLogger("recovery.api")
PRUNE_EVERY = timedelta(minutes=1)


class Duplicate(BaseModel):
    status: str = "duplicate"
    source: str
    event_key: str
    first_seen_at: datetime | None
    """When the key was first seen (the first delivery was answered then)."""


class SeenWebhooks:
    """The `webhook_seen` table, with the pruning clock of one API process."""

    def __init__(self, retention: timedelta):
        self.retention = retention
        self._pruned_at: datetime | None = None

    async def claim(self, pool: Any, source: str, key: str, now: datetime) -> Duplicate | None:
        """None when this delivery is the first with its key (now claimed); else the duplicate answer.
        Without a reachable database every delivery is applied, as before (the steps stay guarded)."""
        try:
            await self._prune(pool, now)
            inserted = await pool.fetchval(
                "INSERT INTO webhook_seen (source, event_key, seen_at) VALUES ($1, $2, $3) "
                "ON CONFLICT DO NOTHING RETURNING true",
                source,
                key,
                now,
            )
            if inserted:
                return None
            first = await pool.fetchval(
                "SELECT seen_at FROM webhook_seen WHERE source = $1 AND event_key = $2", source, key
            )
        except (OSError, asyncpg.PostgresError) as err:
            log.warning("webhook replay check unavailable", extra={"source": source, "error": str(err)})
            return None
        return Duplicate(source=source, event_key=key, first_seen_at=first)

    async def release(self, pool: Any, source: str, key: str) -> None:
        try:
            await pool.execute("DELETE FROM webhook_seen WHERE source = $1 AND event_key = $2", source, key)
        except (OSError, asyncpg.PostgresError) as err:
            log.warning("could not release a webhook replay key", extra={"source": source, "error": str(err)})

    async def _prune(self, pool: Any, now: datetime) -> None:
        if self._pruned_at is not None and abs(now - self._pruned_at) < PRUNE_EVERY:
            return
        self._pruned_at = now
        await pool.execute("DELETE FROM webhook_seen WHERE seen_at < $1", now - self.retention)


def duplicate_response(duplicate: Duplicate) -> JSONResponse:
    return JSONResponse(status_code=200, content=duplicate.model_dump(mode="json"))

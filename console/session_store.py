"""Where console sessions live: PostgreSQL (`console_sessions`), shared by every API replica and kept
across restarts, so signing out on one replica ends the session on all of them. Without a database
(tests, tools) a process-local store stands in.

Stores are keyed by the sha256 of the cookie's session id, never the id itself.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

CLEANUP_EVERY = 60.0
"""Seconds between deletions of expired sessions by one process (done on sign-in)."""


@dataclass(frozen=True)
class StoredSession:
    agent: str
    role: str
    token_fp: str
    live: bool
    """Neither expired nor ended."""


class SessionStore(Protocol):
    async def create(self, key: str, agent: str, role: str, token_fp: str, expires: float) -> None: ...
    async def lookup(self, key: str) -> StoredSession | None: ...
    async def end(self, key: str) -> None: ...
    async def end_agent(self, agent: str) -> None: ...


class PgSessions:
    """Sessions in PostgreSQL. Errors reaching the database propagate: the API answers them with its
    503 (starter/api/outage.py), never with a signed-in page it could not check."""

    def __init__(
        self,
        database: Callable[[], Awaitable[Any]],
        clock: Callable[[], float] = time.monotonic,
        cleanup_every: float = CLEANUP_EVERY,
    ) -> None:
        self._database = database
        self._clock = clock
        self._cleanup_every = cleanup_every
        self._next_cleanup = float("-inf")

    async def create(self, key: str, agent: str, role: str, token_fp: str, expires: float) -> None:
        pool = await self._database()
        if self._clock() >= self._next_cleanup:
            await pool.execute("DELETE FROM console_sessions WHERE expires_at < now()")
            self._next_cleanup = self._clock() + self._cleanup_every
        await pool.execute(
            "INSERT INTO console_sessions (sid, agent, role, token_fp, expires_at) "
            "VALUES ($1, $2, $3, $4, to_timestamp($5))",
            key,
            agent,
            role,
            token_fp,
            expires,
        )

    async def lookup(self, key: str) -> StoredSession | None:
        pool = await self._database()
        row = await pool.fetchrow(
            "SELECT agent, role, token_fp, ended_at IS NULL AND expires_at > now() AS live "
            "FROM console_sessions WHERE sid = $1",
            key,
        )
        return None if row is None else StoredSession(row["agent"], row["role"], row["token_fp"], row["live"])

    async def end(self, key: str) -> None:
        pool = await self._database()
        await pool.execute("UPDATE console_sessions SET ended_at = now() WHERE sid = $1 AND ended_at IS NULL", key)

    async def end_agent(self, agent: str) -> None:
        pool = await self._database()
        await pool.execute("UPDATE console_sessions SET ended_at = now() WHERE agent = $1 AND ended_at IS NULL", agent)


class MemorySessions:
    """One process's sessions (no database configured): they end when the process does."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[StoredSession, float]] = {}

    async def create(self, key: str, agent: str, role: str, token_fp: str, expires: float) -> None:
        now = time.time()
        self._rows = {k: v for k, v in self._rows.items() if v[1] > now}  # forget expired ones
        self._rows[key] = (StoredSession(agent, role, token_fp, True), expires)

    async def lookup(self, key: str) -> StoredSession | None:
        found = self._rows.get(key)
        if found is None:
            return None
        stored, expires = found
        return replace(stored, live=stored.live and expires > time.time())

    async def end(self, key: str) -> None:
        if key in self._rows:
            stored, expires = self._rows[key]
            self._rows[key] = (replace(stored, live=False), expires)

    async def end_agent(self, agent: str) -> None:
        for key, (stored, _) in list(self._rows.items()):
            if stored.agent == agent:
                await self.end(key)

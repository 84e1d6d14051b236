"""Where console sessions live: PostgreSQL (`console_sessions`), shared by every API replica and kept
across restarts, so signing out on one replica ends the session on all of them. Without a database
(tests, tools) a process-local store stands in.

Stores are keyed by the sha256 of the cookie's session id, never the id itself. An OIDC session also
keeps the provider's `sub` and `sid` (what a back-channel logout names) and its access and refresh
tokens (for the userinfo re-check, console/oidc_recheck.py); ending a session clears the tokens.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

CLEANUP_EVERY = 60.0
"""Seconds between deletions of expired sessions by one process (done on sign-in)."""
CHECK_LEASE = 30.0
"""Seconds a claimed re-check holds off the others (longer than its calls to the provider may take)."""


@dataclass(frozen=True)
class ProviderLink:
    """What an OIDC session keeps of the provider's sign-in answer (console/oidc.py)."""

    sub: str
    sid: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None


@dataclass(frozen=True)
class StoredSession:
    agent: str
    role: str
    token_fp: str
    live: bool
    """Neither expired nor ended."""
    link: ProviderLink | None = None
    """The provider's user, for sessions signed in through OIDC."""
    checked_age: float | None = None
    """Seconds since the provider last vouched for the user (sign-in or re-check); None: never."""


class SessionStore(Protocol):
    async def create(
        self, key: str, agent: str, role: str, token_fp: str, expires: float, link: ProviderLink | None = None
    ) -> None: ...
    async def lookup(self, key: str) -> StoredSession | None: ...
    async def end(self, key: str) -> None: ...
    async def end_agent(self, agent: str) -> None: ...
    async def end_subject(self, token_fp: str, sub: str | None, sid: str | None) -> int:
        """End the live sessions of provider `token_fp` for user `sub` (all of them), or else the one
        provider session `sid`; returns how many were ended."""
        ...

    async def claim_check(self, key: str, older_than: float) -> bool:
        """Claim the re-check of `key` if its last check is at least `older_than` seconds old: True for
        the one caller that should ask the provider. The claim holds for `CHECK_LEASE` seconds or
        until `release_check`, so concurrent requests, on any replica, do not all ask (a provider
        that rotates refresh tokens would refuse all but the first refresh)."""
        ...

    async def release_check(self, key: str) -> None:
        """The claimed re-check is done: the next one is due `older_than` seconds from now."""
        ...

    async def save_tokens(self, key: str, access_token: str | None, refresh_token: str | None) -> None: ...


_END = "UPDATE console_sessions SET ended_at = now(), access_token = NULL, refresh_token = NULL"


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

    async def create(
        self, key: str, agent: str, role: str, token_fp: str, expires: float, link: ProviderLink | None = None
    ) -> None:
        pool = await self._database()
        if self._clock() >= self._next_cleanup:
            await pool.execute("DELETE FROM console_sessions WHERE expires_at < now()")
            self._next_cleanup = self._clock() + self._cleanup_every
        await pool.execute(
            "INSERT INTO console_sessions (sid, agent, role, token_fp, expires_at, "
            "oidc_sub, oidc_sid, access_token, refresh_token, checked_at) "
            "VALUES ($1, $2, $3, $4, to_timestamp($5), $6, $7, $8, $9, "
            "CASE WHEN $6::text IS NULL THEN NULL ELSE now() END)",
            key,
            agent,
            role,
            token_fp,
            expires,
            link.sub if link else None,
            link.sid if link else None,
            link.access_token if link else None,
            link.refresh_token if link else None,
        )

    async def lookup(self, key: str) -> StoredSession | None:
        pool = await self._database()
        row = await pool.fetchrow(
            "SELECT agent, role, token_fp, ended_at IS NULL AND expires_at > now() AS live, "
            "oidc_sub, oidc_sid, access_token, refresh_token, "
            "extract(epoch FROM now() - checked_at)::float8 AS checked_age "
            "FROM console_sessions WHERE sid = $1",
            key,
        )
        if row is None:
            return None
        link = None
        if row["oidc_sub"] is not None:
            link = ProviderLink(row["oidc_sub"], row["oidc_sid"], row["access_token"], row["refresh_token"])
        return StoredSession(row["agent"], row["role"], row["token_fp"], row["live"], link, row["checked_age"])

    async def end(self, key: str) -> None:
        pool = await self._database()
        await pool.execute(f"{_END} WHERE sid = $1 AND ended_at IS NULL", key)

    async def end_agent(self, agent: str) -> None:
        pool = await self._database()
        await pool.execute(f"{_END} WHERE agent = $1 AND ended_at IS NULL", agent)

    async def end_subject(self, token_fp: str, sub: str | None, sid: str | None) -> int:
        if sub is None and sid is None:
            return 0
        pool = await self._database()
        column, value = ("oidc_sub", sub) if sub is not None else ("oidc_sid", sid)
        ended = await pool.fetch(
            f"{_END} WHERE token_fp = $1 AND {column} = $2 AND ended_at IS NULL RETURNING sid", token_fp, value
        )
        return len(ended)

    async def claim_check(self, key: str, older_than: float) -> bool:
        pool = await self._database()
        # checked_at in the future marks the check as under way; the row lock makes one UPDATE win
        claimed = await pool.fetchval(
            "UPDATE console_sessions SET checked_at = now() + make_interval(secs => $3) "
            "WHERE sid = $1 AND ended_at IS NULL "
            "AND (checked_at IS NULL OR checked_at <= now() - make_interval(secs => $2)) RETURNING true",
            key,
            float(older_than),
            CHECK_LEASE,
        )
        return bool(claimed)

    async def release_check(self, key: str) -> None:
        pool = await self._database()
        await pool.execute("UPDATE console_sessions SET checked_at = now() WHERE sid = $1", key)

    async def save_tokens(self, key: str, access_token: str | None, refresh_token: str | None) -> None:
        pool = await self._database()
        await pool.execute(
            "UPDATE console_sessions SET access_token = $2, refresh_token = $3 WHERE sid = $1 AND ended_at IS NULL",
            key,
            access_token,
            refresh_token,
        )


@dataclass
class _Row:
    stored: StoredSession
    expires: float
    checked: float | None


class MemorySessions:
    """One process's sessions (no database configured): they end when the process does."""

    def __init__(self) -> None:
        self._rows: dict[str, _Row] = {}

    async def create(
        self, key: str, agent: str, role: str, token_fp: str, expires: float, link: ProviderLink | None = None
    ) -> None:
        now = time.time()
        self._rows = {k: v for k, v in self._rows.items() if v.expires > now}  # forget expired ones
        self._rows[key] = _Row(StoredSession(agent, role, token_fp, True, link), expires, now if link else None)

    async def lookup(self, key: str) -> StoredSession | None:
        row = self._rows.get(key)
        if row is None:
            return None
        now = time.time()
        age = None if row.checked is None else now - row.checked
        return replace(row.stored, live=row.stored.live and row.expires > now, checked_age=age)

    async def end(self, key: str) -> None:
        row = self._rows.get(key)
        if row is not None and row.stored.live:
            link = row.stored.link and replace(row.stored.link, access_token=None, refresh_token=None)
            row.stored = replace(row.stored, live=False, link=link)

    async def end_agent(self, agent: str) -> None:
        for key, row in list(self._rows.items()):
            if row.stored.agent == agent:
                await self.end(key)

    async def end_subject(self, token_fp: str, sub: str | None, sid: str | None) -> int:
        ended = 0
        for key, row in list(self._rows.items()):
            link = row.stored.link
            if not row.stored.live or link is None or row.stored.token_fp != token_fp:
                continue
            if (sub is not None and link.sub == sub) or (sub is None and sid is not None and link.sid == sid):
                await self.end(key)
                ended += 1
        return ended

    async def claim_check(self, key: str, older_than: float) -> bool:
        row = self._rows.get(key)
        now = time.time()
        if row is None or not row.stored.live or (row.checked is not None and now - row.checked < older_than):
            return False
        row.checked = now + CHECK_LEASE
        return True

    async def release_check(self, key: str) -> None:
        row = self._rows.get(key)
        if row is not None:
            row.checked = time.time()

    async def save_tokens(self, key: str, access_token: str | None, refresh_token: str | None) -> None:
        row = self._rows.get(key)
        if row is not None and row.stored.live and row.stored.link is not None:
            link = replace(row.stored.link, access_token=access_token, refresh_token=refresh_token)
            row.stored = replace(row.stored, link=link)

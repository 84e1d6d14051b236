"""Live updates: the projection NOTIFYs each case whose read model moved; one LISTEN connection per
API process fans the workflow ids out to the open pages as server-sent events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from activities.store.projection import CHANGES_CHANNEL

log = logging.getLogger("recovery.console")

KEEPALIVE_SECONDS = 15.0


class Changes:
    """Subscribers get the workflow id of every case that changed, from one shared LISTEN."""

    def __init__(self, pool: Callable[[], Awaitable[Any]]):
        self._pool = pool
        self._subscribers: set[asyncio.Queue[str]] = set()
        self._conn: Any = None
        self._lock = asyncio.Lock()

    async def _listen(self) -> None:
        # Shielded: a page closing mid-way must not leave a connection taken from the pool but unused.
        await asyncio.shield(self._start())

    async def _start(self) -> None:
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                return
            pool = await self._pool()
            conn = await pool.acquire()  # held for the process's life: one connection, however many pages
            await conn.add_listener(CHANGES_CHANNEL, self._on_notify)
            conn.add_termination_listener(lambda _conn: self._lost())
            self._conn = conn

    def _lost(self) -> None:
        self._conn = None  # the next subscriber listens again

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, workflow_id: str) -> None:
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(workflow_id)

    async def stream(
        self, only: str | None = None, signed_in: Callable[[], Awaitable[bool]] | None = None
    ) -> AsyncIterator[str]:
        """Server-sent events: `change` with the workflow id (of `only`, or any case), keepalives between.
        Before each keepalive `signed_in` is asked again: the stream ends with the session (a browser
        reconnecting then gets the 401), or when it cannot be checked."""
        await self._listen()
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1000)
        self._subscribers.add(queue)
        try:
            yield "retry: 1000\n\n"
            while True:
                try:
                    workflow_id = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    if signed_in is not None and not await _quietly(signed_in):
                        return
                    yield ": keepalive\n\n"
                    continue
                if only is None or workflow_id == only:
                    yield f"event: change\ndata: {workflow_id}\n\n"
        finally:
            self._subscribers.discard(queue)


async def _quietly(check: Callable[[], Awaitable[bool]]) -> bool:
    try:
        return await check()
    except Exception as err:  # e.g. PostgreSQL down: end the stream; the reconnect gets the 503
        log.warning("live stream ended: its session could not be checked: %r", err)
        return False

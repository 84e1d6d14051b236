"""`python -m bench.open_cases_worker [--max-cached-workflows N]`: the production worker
(`worker.run_worker`, as `python -m worker` runs it) for figure (k), with its workflow cache size as
configured there unless given, so the smoke run can make a small N overflow the cache. Same
environment as `python -m worker` (TEMPORAL_ADDRESS, DATABASE_URL, RECOVERY_TASK_QUEUE,
RECOVERY_METRICS_ADDRESS); SIGTERM/SIGINT stop it, SIGUSR1/SIGUSR2 ask where its memory is
(`bench.memory_probe`)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bench import memory_probe
from worker import run_worker


async def _run(max_cached_workflows: int | None) -> None:
    memory_probe.install(asyncio.get_running_loop())
    await run_worker(max_cached_workflows=max_cached_workflows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.open_cases_worker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-cached-workflows", type=int, default=None)
    args = parser.parse_args(argv)
    asyncio.run(_run(args.max_cached_workflows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

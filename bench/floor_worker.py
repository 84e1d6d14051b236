"""`python -m bench.floor_worker`: a worker process for the floor workflow, the counterpart of
`python -m worker` for figure (f). Same environment: TEMPORAL_ADDRESS (envconfig),
RECOVERY_TASK_QUEUE; SIGTERM/SIGINT stop it."""

from __future__ import annotations

import asyncio
import signal
import sys

from bench.floor import build_floor_worker
from recovery.client import connect, task_queue


async def run() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    client = await connect()
    async with build_floor_worker(client, task_queue()):
        print(f"floor worker started on {task_queue()}", file=sys.stderr, flush=True)
        await stop.wait()


def main() -> int:
    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())

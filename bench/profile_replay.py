"""`python -m bench.profile_replay`: where the real workflow's own CPU goes, by profiling the replay of
one recorded complaint lifecycle (open → close, as in figure (b)) — no server in the measurement.

Starts a dev server and the embedded PostgreSQL, runs one lifecycle through the real worker, then
replays its history `--times` times under cProfile (in the thread that runs workflow activations) and
prints the functions with the most own time and the most cumulative time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from temporalio.worker import Replayer

from bench.common import RecordingNotifier, configure_file_logging, start_stack, ticket
from bench.lifecycle import lifecycle_policy, real_lifecycle
from worker import build_worker
from workflows.complaint import ComplaintWorkflow
from workflows.models import workflow_id_for


async def main(tmp: Path, times: int, top: int) -> None:
    configure_file_logging(tmp / "worker.log")
    stack = await start_stack(tmp)
    try:
        async with build_worker(stack.client, pool=stack.pool, queue="profile", notifier=RecordingNotifier()):
            await real_lifecycle(stack.client, "profile", "prof-1", lifecycle_policy())
        history = await stack.client.get_workflow_handle(workflow_id_for(ticket("prof-1").case_key)).fetch_history()
    finally:
        await stack.close()
    profiler = cProfile.Profile()
    executor = ThreadPoolExecutor(max_workers=1, initializer=profiler.enable)
    replayer = Replayer(
        workflows=[ComplaintWorkflow], data_converter=stack.client.data_converter, workflow_task_executor=executor
    )
    await replayer.replay_workflow(history)
    started = time.process_time()
    for _ in range(times):
        await replayer.replay_workflow(history)
    cpu = time.process_time() - started
    executor.submit(profiler.disable).result()
    executor.shutdown()
    print(
        f"{len(history.events)} history events; {1000 * cpu / times:.1f} CPU ms per replay "
        f"(profiled, so slower than in figure (b))\n"
    )
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(top)
        print(f"---- by {order} ----")
        print(out.getvalue().split("\n", 6)[-1])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.profile_replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--times", type=int, default=20)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    from activities.store import stop_embedded

    folder = Path(tempfile.mkdtemp(prefix="recovery-profile-"))
    try:
        asyncio.run(main(folder, args.times, args.top))
    finally:
        stop_embedded()
        shutil.rmtree(folder, ignore_errors=True)

"""Where a worker's memory is, asked from outside: figure (k)'s worker answers SIGUSR1 and SIGUSR2
with a JSON line appended to `$BENCH_MEMORY_PROBE`.

SIGUSR1 only looks: RSS, glibc malloc's heap (in use, free, mmapped; `mallinfo2`) and Python's
small-object allocator (its arenas, the bytes in use and free in them). SIGUSR2 looks, then
collects garbage, returns malloc's free memory to the system (`malloc_trim(0)`) and looks again: the
RSS that falls is memory the process had already freed but still held. Both run on the event loop,
between workflow activations.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import json
import os
import re
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROBE_ENV = "BENCH_MEMORY_PROBE"


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


def _libc() -> Any:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


_PYMALLOC = {
    "pymalloc_arenas_kib": re.compile(r"^(\d+) arenas \* (\d+) bytes/arena"),
    "pymalloc_in_use_kib": re.compile(r"^# bytes in allocated blocks\s+=\s+([\d,]+)"),
    "pymalloc_available_kib": re.compile(r"^# bytes in available blocks\s+=\s+([\d,]+)"),
    "pymalloc_unused_pools_kib": re.compile(r"^\d+ unused pools \* \d+ bytes\s+=\s+([\d,]+)"),
}


def _pymalloc() -> dict[str, int]:
    """Python's small-object allocator (`sys._debugmallocstats`, which prints to fd 2): its arenas,
    the bytes in blocks in use and free, in KiB. Other threads' log lines printed meanwhile are
    written on to the real stderr."""
    with tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode(errors="replace")
    out: dict[str, int] = {}
    for line in text.splitlines():
        matched = False
        for key, pattern in _PYMALLOC.items():
            found = pattern.match(line)
            if found:
                numbers = [int(g.replace(",", "")) for g in found.groups()]
                out[key] = (numbers[0] * numbers[1] if len(numbers) == 2 else numbers[0]) // 1024
                matched = True
        if not matched and line.startswith("{"):
            os.write(2, (line + "\n").encode())
    return out


def look() -> dict[str, Any]:
    """RSS and malloc's heap in KiB, and the Python allocator's blocks in use."""
    out: dict[str, Any] = {"rss_kib": _rss_kib(), "python_blocks": sys.getallocatedblocks(), **_pymalloc()}
    libc = _libc()
    if libc is not None and hasattr(libc, "mallinfo2"):
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
        out |= {
            "malloc_in_use_kib": info.uordblks // 1024,
            "malloc_free_kib": info.fordblks // 1024,
            "malloc_mmapped_kib": info.hblkhd // 1024,
        }
    return out


def look_and_trim() -> dict[str, Any]:
    """`look`, then gc and malloc_trim(0), then `look` again (keys `before`, `after`, `trim_ms`)."""
    before = look()
    started = time.perf_counter()
    collected = gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
    return {
        "before": before,
        "collected": collected,
        "after": look(),
        "trim_ms": round(1000 * (time.perf_counter() - started), 1),
    }


def install(loop: asyncio.AbstractEventLoop) -> None:
    """Answer SIGUSR1 / SIGUSR2 when `$BENCH_MEMORY_PROBE` names a file; else do nothing."""
    path = os.environ.get(PROBE_ENV)
    if not path:
        return

    def answer(kind: str) -> None:
        entry = look() if kind == "look" else look_and_trim()
        with open(path, "a") as out:
            out.write(json.dumps({"kind": kind, **entry}) + "\n")

    loop.add_signal_handler(signal.SIGUSR1, answer, "look")
    loop.add_signal_handler(signal.SIGUSR2, answer, "trim")


async def ask(pid: int, path: Path, kind: str, timeout: float = 30.0) -> dict[str, Any] | None:
    """Signal the worker `pid` and wait for its answer in `path` (None if none came in `timeout`)."""
    lines = path.read_text().splitlines() if path.exists() else []
    os.kill(pid, signal.SIGUSR1 if kind == "look" else signal.SIGUSR2)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        now = path.read_text().splitlines() if path.exists() else []
        if len(now) > len(lines):
            answer: dict[str, Any] = json.loads(now[len(lines)])
            return answer
    return None

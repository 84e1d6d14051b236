"""The figures of `python -m bench`, one module per figure (the letter or name `--only` selects): each runs its
measurement with the command line's sizes, sets its targets (PASS/MISS, and the cause a MISS points at)
and writes its rows of the table. The measurements themselves live in the modules of `bench` they call
(`bench.lifecycle`, `bench.escalation`, …); `bench.__main__` registers the figures and runs them.

This module holds what the figure modules share: the run's `Context`, the `Figure` each one registers,
the `Targets` they add to (each target function is given all the figures: (b)'s ratios need (a)) and
the `Table` they write rows in.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import RecordingNotifier, Stack
from bench.procs import Groups

Figs = dict[str, Any]
"""The figures' results by key ("a" … "j", "soak", "tuning"), as in the JSON's `figures`."""


@dataclass
class Context:
    """What a figure's run is given: the arguments, the temporary folder, the stack and the queues of the
    in-process workers (real, floor, reference), and the floor's plan."""

    args: argparse.Namespace
    tmp: Path
    stack: Stack
    notifier: RecordingNotifier
    groups: Groups
    real_queue: str
    floor_queue: str
    reference_queue: str
    plan: dict[str, list[str]]
    """`bench.floor.DEFAULT_PLAN` until (a)/(b) counts it from a real lifecycle's history."""

    @property
    def queues(self) -> dict[str, str]:
        return {"real": self.real_queue, "floor": self.floor_queue, "reference": self.reference_queue}


def fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


class Targets:
    """The targets in the order they are added: each with its value, PASS/MISS and (for a MISS) the cause."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, figure: str, label: str, value: float | None, op: str, bound: float, cause: str) -> None:
        ok = value is not None and (value >= bound if op == ">=" else value <= bound if op == "<=" else value < bound)
        self.rows.append(
            {
                "figure": figure,
                "measure": label,
                "value": value,
                "target": f"{op} {bound:g}",
                "result": "PASS" if ok else "MISS",
                "cause": None if ok else cause,
            }
        )


class Table:
    """The printed table's lines; `figs` for rows that compare with another figure."""

    def __init__(self, figs: Figs, targets: list[dict[str, Any]]) -> None:
        self.figs = figs
        self.lines: list[str] = []
        self._verdicts = {t["figure"]: t for t in targets}

    def row(self, fig: str, measure: str, value: str, target: str = "", verdict: str = "") -> None:
        self.lines.append(f"{fig:<4} {measure:<58} {value:>14}  {target:<9} {verdict}")

    def v(self, fig: str) -> tuple[str, str]:
        """The target and result of the target named `fig` ("b/a", "c/200/1p", …), or blanks."""
        t = self._verdicts.get(fig)
        return (t["target"], t["result"]) if t else ("", "")


Rows = Callable[[Table, dict[str, Any]], None]


@dataclass(frozen=True)
class Figure:
    """One figure module's entry in the registry of `bench.__main__`."""

    keys: tuple[str, ...]
    """Its results' keys in `figures` ("a" and "b" come from one run)."""
    run: Callable[[Context], Awaitable[Figs]]
    """The measurement: a result for each of `keys`."""
    rows: dict[str, Rows] | None = None
    """The table's rows for each key's result (one that did not fail)."""
    after_workers: bool = False
    """Runs once the in-process workers have stopped (it starts its own)."""
    flag: str | None = None
    """Selected by this argument (e.g. `tuning` for --tuning) instead of by --only."""

    def selected(self, args: argparse.Namespace) -> bool:
        if self.flag is not None:
            return bool(getattr(args, self.flag))
        return any(key in args.only for key in self.keys)

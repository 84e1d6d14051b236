"""The simulation report: its model, the counting of outcomes into it, and the runs that fill it.

`simulate` and `simulate_stored` replay every case (`workflows.simulation.replay`), count the
recorded and simulated outcomes (`workflows.simulation.outcome`) per severity and step, and merge
the figures into one `SimulationReport`. Past `parallel_from` cases the work is split into chunks
over worker processes; a chunk's figures (`_Partial`) are merged in case order, so the report is the
same byte for byte however it was split. `_chunk_job` and `_Partial` are pickled by module path
(spawned workers import them from here): keep them at this module's top level.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from workflows.policy import Policy, Severity, Step
from workflows.simulation.history import CaseHistory, EventLike, StoredEvent, StoredRow, _iso
from workflows.simulation.outcome import _OUTCOME_TYPES, Outcome, outcome_of
from workflows.simulation.replay import _Replay

SEVERITIES = [s.value for s in Severity]
STEPS = [s.value for s in Step if s is not Step.CLOSED]


class StepFigures(BaseModel):
    completed: int = 0
    breaches: int = 0
    """Step rounds whose deadline was missed (completed or not)."""
    attainment_pct: float | None = None
    """Completed without breach / completed × 100, one decimal."""
    warnings: int = 0
    escalations: dict[str, int] = {}
    """Escalations at this step by level ("1", "2", ...)."""


class StepComparison(BaseModel):
    severity: str
    step: str
    actual: StepFigures
    candidate: StepFigures


class ChangedCase(BaseModel):
    workflow_id: str
    case_id: str
    why: list[str]


class SimulationTotals(BaseModel):
    cases: int
    changed: int
    actual_breaches: int
    candidate_breaches: int


class SimulationReport(BaseModel):
    candidate: str
    since: datetime | None
    until: datetime | None
    totals: SimulationTotals
    steps: list[StepComparison]
    changed: list[ChangedCase]
    skipped: list[str]
    """Stored cases that could not be replayed (e.g. events before `opened` are missing), with why."""


@dataclass
class _Partial:
    actual: dict[tuple[str, str], _Figures] = field(default_factory=dict)
    candidate: dict[tuple[str, str], _Figures] = field(default_factory=dict)
    changed: list[ChangedCase] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    cases: int = 0
    actual_breaches: int = 0
    candidate_breaches: int = 0


def _simulate_chunk(
    histories: Sequence[tuple[str, Sequence[EventLike]]], candidate: Policy, as_of: datetime
) -> _Partial:
    part = _Partial()
    for workflow_id, events in histories:
        if not events or events[0].type != "opened" or events[0].seq != 1:
            part.skipped.append(f"{workflow_id}: its first stored event is not `opened` (seq 1)")
            continue
        sim = _Replay(workflow_id, events, candidate).run(as_of)
        actual, simulated = outcome_of(events), outcome_of(sim.events, sim.dues)
        part.cases += 1
        part.actual_breaches += len(actual.breached())
        part.candidate_breaches += len(simulated.breached())
        _add(part.actual, actual)
        _add(part.candidate, simulated)
        why = _why(actual, simulated, sim.notes)
        if why:
            part.changed.append(
                ChangedCase(workflow_id=workflow_id, case_id=workflow_id.removeprefix("complaint-"), why=why)
            )
    return part


_READ_DATA = {
    *_OUTCOME_TYPES,
    "contact_added",
    "compensation_proposed",
    "compensation_approved",
    "compensation_rejected",
    "compensation_failed",
    "paused",
    "resumed",
}
"""The event types whose data the simulator reads (`outcome_of`, `_Replay`); the others' JSON is not decoded
(about half of a history is status updates and notifications)."""


def _stored_events(rows: Sequence[tuple[int, str, datetime, str, str | dict[str, Any]]]) -> list[StoredEvent]:
    """The rows as events; the data of types the simulator does not read (`_READ_DATA`) is left empty."""
    return [
        StoredEvent(
            seq,
            type_,
            at,
            actor,
            (json.loads(data) if type_ in _READ_DATA else {}) if isinstance(data, str) else data,
        )
        for seq, type_, at, actor, data in rows
    ]


def _chunk_job(payload: tuple[str, datetime, list[StoredRow]]) -> _Partial:
    """A worker process's share: plain tuples and JSON text in (cheap to pickle), the partial figures out."""
    policy_json, as_of, rows = payload
    candidate = Policy.model_validate_json(policy_json)
    return _simulate_chunk([(wid, _stored_events(events)) for wid, events in rows], candidate, as_of)


def _run_parallel(ordered: list[StoredRow], candidate: Policy, as_of: datetime, workers: int) -> list[_Partial]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # More chunks than workers, so a worker that finishes early takes the next one (cases differ in cost);
    # map() hands the partials back in chunk order, so the report does not depend on which worker ran what.
    size = max(1, -(-len(ordered) // (workers * 4)))
    policy_json = candidate.model_dump_json()
    payloads = [(policy_json, as_of, ordered[i : i + size]) for i in range(0, len(ordered), size)]
    # spawn, not fork: the caller may be a server with threads (and locks) of its own.
    with ProcessPoolExecutor(
        max_workers=min(workers, len(payloads)), mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        return list(pool.map(_chunk_job, payloads))


def simulate(
    histories: list[CaseHistory],
    candidate: Policy,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    workers: int = 1,
    parallel_from: int = 1000,
) -> SimulationReport:
    """Replay `histories` under `candidate` and compare with what was recorded. `workers` > 1 splits
    the cases over that many processes (from `parallel_from` cases on); the report is the same,
    byte for byte."""
    ordered = sorted(histories, key=lambda h: h.workflow_id)
    as_of = max((e.at for h in ordered for e in h.events), default=_EPOCH)
    if workers > 1 and len(ordered) >= parallel_from:
        rows: list[StoredRow] = [
            (h.workflow_id, [(e.seq, e.type, e.at, e.actor, e.data) for e in h.events]) for h in ordered
        ]
        parts = _run_parallel(rows, candidate, as_of, workers)
    else:
        parts = [_simulate_chunk([(h.workflow_id, h.events) for h in ordered], candidate, as_of)]
    return _report(parts, candidate, since, until)


def simulate_stored(
    rows: list[StoredRow],
    candidate: Policy,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    workers: int = 1,
    parallel_from: int = 1000,
) -> SimulationReport:
    """`simulate` for rows read by `load_history_rows`: the events' JSON is decoded by the worker
    processes, and no model is built for a stored event. The same report as `simulate`, byte for byte."""
    ordered = sorted(rows, key=lambda r: r[0])
    as_of = max((e[2] for _, events in ordered for e in events), default=_EPOCH)
    if workers > 1 and len(ordered) >= parallel_from:
        parts = _run_parallel(ordered, candidate, as_of, workers)
    else:
        parts = [_simulate_chunk([(wid, _stored_events(events)) for wid, events in ordered], candidate, as_of)]
    return _report(parts, candidate, since, until)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _report(
    parts: list[_Partial], candidate: Policy, since: datetime | None, until: datetime | None
) -> SimulationReport:
    actual_steps: dict[tuple[str, str], _Figures] = {}
    candidate_steps: dict[tuple[str, str], _Figures] = {}
    changed: list[ChangedCase] = []
    skipped: list[str] = []
    totals = SimulationTotals(cases=0, changed=0, actual_breaches=0, candidate_breaches=0)
    for part in parts:  # in case order: the chunks are contiguous runs of the sorted cases
        _merge(actual_steps, part.actual)
        _merge(candidate_steps, part.candidate)
        changed.extend(part.changed)
        skipped.extend(part.skipped)
        totals.cases += part.cases
        totals.actual_breaches += part.actual_breaches
        totals.candidate_breaches += part.candidate_breaches
    totals.changed = len(changed)
    keys = sorted(set(actual_steps) | set(candidate_steps), key=_step_order)
    steps = [
        StepComparison(
            severity=k[0], step=k[1], actual=_finish(actual_steps.get(k)), candidate=_finish(candidate_steps.get(k))
        )
        for k in keys
    ]
    return SimulationReport(
        candidate=f"{candidate.name}@{candidate.version}",
        since=since,
        until=until,
        totals=totals,
        steps=steps,
        changed=changed,
        skipped=skipped,
    )


def _step_order(key: tuple[str, str]) -> tuple[int, int, tuple[str, str]]:
    severity, step = key
    return (
        SEVERITIES.index(severity) if severity in SEVERITIES else 99,
        STEPS.index(step) if step in STEPS else 99,
        key,
    )


@dataclass
class _Figures:
    """StepFigures while counting: a plain object (a pydantic model per increment is the hot loop's cost)."""

    completed: int = 0
    breaches: int = 0
    met: int = 0
    warnings: int = 0
    escalations: Counter[int] = field(default_factory=Counter)


def _merge(into: dict[tuple[str, str], _Figures], part: dict[tuple[str, str], _Figures]) -> None:
    for key, figures in part.items():
        mine = into.setdefault(key, _Figures())
        mine.completed += figures.completed
        mine.breaches += figures.breaches
        mine.met += figures.met
        mine.warnings += figures.warnings
        mine.escalations.update(figures.escalations)


def _add(table: dict[tuple[str, str], _Figures], outcome: Outcome) -> None:
    for r in outcome.steps:
        figures = table.get((r.severity, r.step))
        if figures is None:
            figures = table[(r.severity, r.step)] = _Figures()
        if r.completed_at is not None:
            figures.completed += 1
            if not r.breached:
                figures.met += 1
        if r.breached:
            figures.breaches += 1
    for (severity, step), count in outcome.warnings.items():
        table.setdefault((severity, step), _Figures()).warnings += count
    for (severity, step, level), count in outcome.escalations.items():
        table.setdefault((severity, step), _Figures()).escalations[level] += count


def _finish(figures: _Figures | None) -> StepFigures:
    if figures is None:
        return StepFigures()
    pct = round(figures.met * 100 / figures.completed, 1) if figures.completed else None
    return StepFigures(
        completed=figures.completed,
        breaches=figures.breaches,
        attainment_pct=pct,
        warnings=figures.warnings,
        escalations={str(level): count for level, count in sorted(figures.escalations.items()) if count},
    )


def _why(actual: Outcome, simulated: Outcome, notes: list[str]) -> list[str]:
    why: list[str] = []
    before, after = actual.breached(), simulated.breached()
    rounds = {(r.round, r.step): r for r in simulated.steps}
    recorded = {(r.round, r.step): r for r in actual.steps}
    for key in sorted(before ^ after, key=lambda k: (k[0], STEPS.index(k[1]))):
        round_, step = key
        label = step if round_ == 1 else f"{step} (round {round_})"
        sim, rec = rounds.get(key), recorded.get(key)
        done = rec.completed_at if rec else None
        due = sim.due_at if sim else None
        when = f"done {_iso(done)}" if done else "not done yet"
        due_text = f", due {_iso(due)} under the candidate" if due else ""
        if key in after:
            why.append(f"{label}: breached under the candidate ({when}{due_text}); met as recorded")
        else:
            why.append(f"{label}: met under the candidate ({when}{due_text}); breached as recorded")
    if actual.max_level != simulated.max_level:
        why.append(
            f"highest escalation level {actual.max_level} as recorded, {simulated.max_level} under the candidate"
        )
    if why:
        why.extend(notes)
    return why

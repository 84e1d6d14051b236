"""Figure (c): escalation precision when N acknowledge deadlines expire at the same instant.

To make N deadlines truly coincide, the cases open (in a burst) under a policy whose business calendar
starts its working hours at a moment T0 (a whole minute) a little after the burst: a case opened outside working hours
starts spending its budget only at T0, so every case's acknowledge deadline is exactly T0 + budget (and
its 50 % / 75 % warnings fire together too, as they would for real). Per case we measure the delay from
that deadline to the moment its escalation notification ACTIVITY starts in the worker (wall clock,
recorded by a notifier that wraps the real one) — the event's own time is the deadline itself, because
the workflow ticks at the time its timer was set for.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.common import RecordingNotifier, bounded, percentile, say, summary, ticket, wall_policy
from bench.metrics import ActionMeter, per
from bench.procs import CpuMeter, Groups, find_pids
from bench.storm_workers import EscalationLog, worker_processes
from starter.cases import open_case, status
from workflows.effects import PROJECT_EVENTS
from workflows.policy import Policy

_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def storm_policy(t0: datetime, budget_s: int) -> Policy:
    """Business clock (UTC, every day a working day) whose working hours begin at `t0` (a whole minute)."""
    return wall_policy(
        ack=f"{budget_s}s",
        fix="4h",
        compensate="4h",
        follow_up="1h",
        close="4h",
        interval="1h",
        clock="business",
        calendar={
            "time_zone": "UTC",
            "working_hours": [t0.strftime("%H:%M:%S"), "23:59:59"],
            "working_days": _DAYS,
            "holidays": [],
        },
    )


async def open_rate(client: Client, queue: str, concurrency: int, count: int = 20) -> float:
    """Cases opened per second at this concurrency (calibration, with far-away deadlines)."""
    policy = wall_policy(ack="1h")
    nonce = uuid.uuid4().hex[:6]
    started = time.perf_counter()
    await bounded(concurrency, range(count), lambda i: open_case(client, ticket(f"cal{nonce}-{i}"), policy, queue))
    return count / (time.perf_counter() - started)


async def breakdown(
    client: Client, workflow_id: str, deadline: float, started: float | None = None
) -> dict[str, float] | None:
    """Where one case's delay went, from its history: the escalation timer armed late (its due moment after
    the deadline), fired late by the server, the workflow task to schedule the notification activity, and
    the activity's dispatch to the worker. `started` is when the worker started it (the recording
    notifier's clock); without it, the history's ActivityTaskStarted time (written when the activity
    completes; None until then)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    converter = client.data_converter.payload_converter
    timers: dict[int, Any] = {}
    fired = timer = scheduled = task_started = None
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            summary_text = ""
            if event.user_metadata.HasField("summary"):
                summary_text = converter.from_payload(event.user_metadata.summary, str)
            if "escalate" in summary_text:
                timers[event.event_id] = event
        elif (
            fired is None
            and event.event_type == EventType.EVENT_TYPE_TIMER_FIRED
            and event.timer_fired_event_attributes.started_event_id in timers
        ):
            fired = event
            timer = timers[event.timer_fired_event_attributes.started_event_id]
        elif (
            fired is not None
            and task_started is None
            and event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
        ):
            task_started = event
        elif (
            fired is not None
            and scheduled is None
            and event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and event.activity_task_scheduled_event_attributes.activity_type.name != PROJECT_EVENTS
        ):
            scheduled = event
        elif (
            scheduled is not None
            and started is None
            and event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
            and event.activity_task_started_event_attributes.scheduled_event_id == scheduled.event_id
        ):
            started = event.event_time.ToDatetime(UTC).timestamp()
    if scheduled is None and started is not None:
        # The plan is a local activity (lean-actions): no activity task; it starts inside the workflow task
        # that handles the timer, so "workflow task" is the wait for that task and "dispatch" the time in it.
        scheduled = task_started
    if timer is None or fired is None or scheduled is None or started is None:
        return None
    due = (
        timer.event_time.ToDatetime(UTC).timestamp()
        + timer.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta().total_seconds()
    )
    fired_at = fired.event_time.ToDatetime(UTC).timestamp()
    scheduled_at = scheduled.event_time.ToDatetime(UTC).timestamp()
    return {
        "timer_armed_late_s": due - deadline,
        "timer_fired_late_s": fired_at - due,
        "workflow_task_s": scheduled_at - fired_at,
        "activity_dispatch_s": started - scheduled_at,
        "started_at": started,
    }


async def storm(
    client: Client,
    queue: str,
    notifier: RecordingNotifier | None,
    n: int,
    budget_s: int,
    concurrency: int,
    rate: float,
    meter: CpuMeter,
    actions: ActionMeter | None = None,
    watcher: EscalationLog | None = None,
    whole_minute: bool = True,
) -> dict[str, Any]:
    """One storm of N coincident deadlines. The escalations' start times (worker clock) come from the
    in-process worker's recording `notifier`, or from the worker processes' log (`watcher`)."""
    # T0: after the burst (estimated at 2/3 of the calibrated rate) and a margin; never near midnight UTC.
    while True:
        now = datetime.now(UTC)
        # on a whole minute: the engine's business calendar keeps working hours to the minute (seconds
        # are dropped), so a T0 between minutes would start every case's clock at the minute before it
        earliest = now + timedelta(seconds=3 + 1.5 * n / rate)
        t0 = earliest.replace(second=0, microsecond=0) + timedelta(minutes=1) if whole_minute else earliest
        if t0.date() == now.date() and t0.time() < datetime.strptime("23:58:00", "%H:%M:%S").time():
            break
        await asyncio.sleep(30)
    policy = storm_policy(t0, budget_s)
    deadline = t0 + timedelta(seconds=budget_s)
    nonce = uuid.uuid4().hex[:6]
    keys = [f"esc{nonce}-{i}" for i in range(n)]
    opened_before_t0: dict[str, bool] = {}

    async def one(key: str) -> str:
        result = await open_case(client, ticket(key), policy, queue)
        opened_before_t0[result.workflow_id] = datetime.now(UTC) < t0
        return result.workflow_id

    while (t0 - datetime.now(UTC)).total_seconds() > 3 + 1.5 * n / rate:  # open just before T0
        await asyncio.sleep(0.2)
    say(
        f"(c): opening {n} cases; working hours (and so their clocks) start at {t0:%H:%M:%S} UTC, "
        f"deadline {deadline:%H:%M:%S} UTC"
    )
    if actions:
        await actions.start()
    meter.start()
    burst_started = time.perf_counter()
    workflow_ids = await bounded(concurrency, keys, one)
    burst = time.perf_counter() - burst_started
    # Wait until every escalation notification started (or give up after a generous while).
    give_up = deadline.timestamp() + 60 + 0.2 * n

    def seen() -> dict[str, float]:
        if notifier is not None:
            return notifier.escalations
        assert watcher is not None
        return watcher.read()

    while time.time() < give_up and not all(w in seen() for w in workflow_ids):
        await asyncio.sleep(0.2)
    escalations = dict(seen())
    cpu = meter.stop()
    storming = await actions.stop() if actions else None
    # Any case the worker clock missed (e.g. a log line lost): the history's hand-over time instead.
    unseen = [w for w in workflow_ids if w not in escalations]
    for w, part in zip(
        unseen, await bounded(8, unseen, lambda w: breakdown(client, w, deadline.timestamp())), strict=True
    ):
        if part is not None:
            escalations[w] = part["started_at"]
    # Cases whose open returned after T0 may have started after it: their own deadline, from their status.
    due: dict[str, float] = {w: deadline.timestamp() for w in workflow_ids if opened_before_t0.get(w)}
    late = [w for w in workflow_ids if w not in due]

    async def due_of(w: str) -> None:
        current = await status(client, w)
        if current.deadlines.due_at is not None:
            due[w] = current.deadlines.due_at.timestamp()

    await bounded(8, late, due_of)
    delays = [escalations[w] - due[w] for w in workflow_ids if w in escalations and w in due]
    missing = [w for w in workflow_ids if w not in escalations]
    deadlines = sorted({round(due[w], 3) for w in workflow_ids if w in due})
    sample = [w for w in workflow_ids if w in escalations and w in due][:: max(1, n // 20)][:20]
    parts = [
        p for p in await bounded(4, sample, lambda w: breakdown(client, w, due[w], escalations[w])) if p is not None
    ]
    split = {k: percentile([p[k] for p in parts], 50) for k in (parts[0] if parts else {}) if k != "started_at"}
    # How far the history's ActivityTaskStarted time (the server's hand-over to a poller) is from the
    # worker's own clock: the worker-side queueing.
    hist = await bounded(4, sample, lambda w: breakdown(client, w, due[w]))
    pairs = zip(sample, hist, strict=True)
    offset = percentile([h["started_at"] - escalations[w] for w, h in pairs if h is not None], 50)
    return {
        "n": n,
        "budget_s": budget_s,
        "open_burst_s": round(burst, 2),
        "common_deadline": deadline.isoformat(),
        "cases_on_common_deadline": n - len(late),
        "deadline_spread_s": round(deadlines[-1] - deadlines[0], 3) if deadlines else None,
        "escalations_missing": len(missing),
        "escalations_from_history": len(unseen) - len(missing),
        "delay_s": summary(delays),
        "median_split_s": split,
        "split_sample": len(parts),
        "history_start_minus_recorded_s": offset,
        "cpu_seconds": cpu,
        # the server's actions per case over the whole storm: its open, both warnings, the escalation
        "actions_per_case": None
        if storming is None
        else {"total": round(sum(storming.values()) / n, 2), "by_type": per(storming, n)},
    }


TARGETS = {200: 1.0, 1000: 10.0}
"""p95 escalation delay targets (s) by storm size."""


async def figure_c(
    client: Client,
    queue: str,
    notifier: RecordingNotifier,
    sizes: list[int],
    budget_s: int,
    concurrency: int,
    cpu_groups: Groups,
    calibration: int = 20,
    metrics_url: str | None = None,
    processes: tuple[int, ...] = (1,),
    address: str = "",
    database_url: str = "",
    tmp: Path | None = None,
    whole_minute: bool = True,
    floor: Callable[[int, float], Awaitable[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The storms at each size, for each number of worker processes: 1 is the bench's in-process worker
    (its notifier records the escalations), more are `recovery worker --processes P` subprocesses (their
    JSON log's `notification` lines say when each escalation notification started). `whole_minute=False`
    (the smoke run) saves the wait for a whole minute: its deadlines then do not coincide, its delays mean nothing.
    `floor(n, rate)`, if given, runs the storm floor right after each 1-process storm, at the same N: its
    result goes into that size's entry (`floor`, `floor_delay_s`, `ratio_p95` = real p95 / floor p95)."""
    rate = await open_rate(client, queue, concurrency, calibration)
    say(f"(c): calibrated open rate {rate:.1f} cases/s at concurrency {concurrency}")
    by_processes: dict[str, dict[str, Any]] = {}
    for p in processes:
        runs = []
        if p == 1:
            meter = CpuMeter(cpu_groups)
            for n in sizes:
                actions = ActionMeter(metrics_url, client.namespace) if metrics_url else None
                runs.append(
                    await storm(
                        client, queue, notifier, n, budget_s, concurrency, rate, meter, actions, None, whole_minute
                    )
                )
                _say(runs[-1], p)
                if floor is not None:
                    _with_floor(runs[-1], await floor(n, rate))
        else:
            p_queue = f"storm-{p}p-{uuid.uuid4().hex[:6]}"
            groups = dict(cpu_groups, **{"worker+driver": lambda q=p_queue, me=os.getpid(): [me, *find_pids(q)]})
            log = (tmp or Path(".")) / f"storm-{p}p.log"
            async with worker_processes(p, address, database_url, p_queue, log):
                meter, watcher = CpuMeter(groups), EscalationLog(log)
                for n in sizes:
                    actions = ActionMeter(metrics_url, client.namespace) if metrics_url else None
                    runs.append(
                        await storm(
                            client, p_queue, None, n, budget_s, concurrency, rate, meter, actions, watcher, whole_minute
                        )
                    )
                    _say(runs[-1], p)
        by_processes[f"{p}p"] = {"processes": p, "sizes": {str(r["n"]): r for r in runs}}
    first = next(iter(by_processes.values()))
    first_run = next(iter(first["sizes"].values()))
    return {
        "value": first_run["delay_s"]["p95"],
        "unit": f"s (p95, N={first_run['n']}, {first['processes']} worker process)",
        "sizes": first["sizes"],
        "processes": by_processes,
        "targets_p95_s": {str(k): v for k, v in TARGETS.items()},
        "method": "deadline = T0 + budget for every case (business calendar starting at T0); delay = escalation "
        "notification activity start in the worker - deadline (1 process: the in-process recording notifier's "
        "clock; more: the workers' own `notification` log lines)",
    }


def _with_floor(run: dict[str, Any], floor: dict[str, Any]) -> None:
    run["floor"] = floor
    run["floor_delay_s"] = {k: floor["delay_s"][k] for k in ("p50", "p95")}
    real, bare = run["delay_s"]["p95"], floor["delay_s"]["p95"]
    run["ratio_p95"] = round(real / bare, 3) if real is not None and bare else None
    say(f"        floor p50 {floor['delay_s']['p50']}s p95 {bare}s; real / floor p95 {run['ratio_p95']}")


def _say(result: dict[str, Any], processes: int) -> None:
    d = result["delay_s"]
    n = result["n"]
    say(
        f"        N={n}, {processes} worker process(es): p50 {d['p50']:.3f}s p95 {d['p95']:.3f}s max {d['max']:.3f}s"
        if d["n"]
        else f"        N={n}, {processes} worker process(es): no escalations seen"
    )

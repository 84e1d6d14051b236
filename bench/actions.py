"""Figure (h): billable actions per standard lifecycle, by action type, counted by the dev server itself.

For each kind (real, floor, reference) a batch of N lifecycles runs ALONE (nothing else in flight);
the server's `action` counter (`bench.metrics`) is read, settled, before and after, and the delta by
`action_type` is divided by N. The histories of a few of the batch's workflows say where the actions
come from (activities by type, timers, updates, search-attribute upserts, markers): the MISS cause.
Their size (`history_bytes`: the fetched history's protobuf ByteSize) and, for the real batch, the
PostgreSQL rows and bytes it added (`postgres`: exact row counts and `pg_total_relation_size` of every
table, before and after, per lifecycle) are what `python -m bench.cost` turns into storage.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import asyncpg
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History
from temporalio.client import Client

from bench.common import bounded, say
from bench.floor import history_shape
from bench.lifecycle import lifecycle, lifecycle_policy, workflow_id_of
from bench.metrics import ActionMeter, per

TARGET = 22.0
KINDS = ("real", "floor", "reference")
_SHAPE_KEYS = (
    "history_events",
    "workflow_tasks",
    "activities_total",
    "timers_started",
    "timers_canceled",
    "timers_fired",
    "updates_accepted",
    "search_attribute_upserts",
    "markers",
    "patch_upserts",
)


def _shape(events: list[Any]) -> dict[str, Any]:
    """history_shape, plus the upserts that `workflow.patched` makes (TemporalChangeVersion)."""
    shape = history_shape(events)
    shape["patch_upserts"] = sum(
        1
        for e in events
        if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
        and "TemporalChangeVersion"
        in e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
    )
    return shape


async def mean_shape(client: Client, workflow_ids: list[str]) -> dict[str, Any]:
    """The histories' shape averaged over some workflows (activities by type too)."""
    shapes = []
    for w in workflow_ids:
        events = list((await client.get_workflow_handle(w).fetch_history()).events)
        shapes.append(_shape(events) | {"history_bytes": History(events=events).ByteSize()})
    n = max(len(shapes), 1)
    activities: Counter[str] = Counter()
    for s in shapes:
        activities.update(s["activities"])
    out: dict[str, Any] = {k: round(sum(s[k] for s in shapes) / n, 2) for k in (*_SHAPE_KEYS, "history_bytes")}
    out["activities"] = {k: round(v / n, 2) for k, v in activities.most_common()}
    out["sampled"] = len(shapes)
    return out


async def batch(
    kind: str,
    client: Client,
    meter: ActionMeter,
    queue: str,
    n: int,
    concurrency: int,
    plan: dict[str, list[str]],
    pool: asyncpg.Pool | None = None,
) -> dict[str, Any]:
    policy = lifecycle_policy()
    nonce = uuid.uuid4().hex[:6]
    keys = [f"act{kind[:2]}{nonce}-{i}" for i in range(n)]
    stored = await table_sizes(pool) if pool is not None and kind == "real" else None
    await meter.start()
    await bounded(concurrency, keys, lambda k: lifecycle(kind, client, queue, k, policy, plan, pool))
    used = await meter.stop()
    by_type = per(used, n)
    out = {
        "lifecycles": n,
        "actions_per_lifecycle": round(sum(used.values()) / n, 2),
        "by_type": by_type,
        "history": await mean_shape(client, [workflow_id_of(kind, k) for k in keys[:3]]),
    }
    if pool is not None and stored is not None:
        out["postgres"] = postgres_per_case(stored, await table_sizes(pool), n)
    return out


async def table_sizes(pool: asyncpg.Pool) -> dict[str, tuple[int, int]]:
    """Every user table's exact row count and `pg_total_relation_size` (heap, indexes, TOAST)."""
    async with pool.acquire() as conn:
        tables = await conn.fetch(
            "SELECT n.nspname, c.relname, pg_total_relation_size(c.oid) AS size "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%'"
        )
        out = {}
        for t in tables:
            rows = await conn.fetchval(f'SELECT count(*) FROM "{t["nspname"]}"."{t["relname"]}"')
            out[t["relname"]] = (int(rows), int(t["size"]))
        return out


def postgres_per_case(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], n: int) -> dict[str, Any]:
    """Rows and bytes a batch of n lifecycles added, per lifecycle (sizes grow by 8 KiB pages: a mean)."""
    rows = {t: (after[t][0] - before.get(t, (0, 0))[0]) / n for t in after}
    size = {t: (after[t][1] - before.get(t, (0, 0))[1]) / n for t in after}
    return {
        "rows_per_case": round(sum(rows.values()), 2),
        "bytes_per_case": round(sum(size.values())),
        "rows_by_table": {t: round(r, 2) for t, r in sorted(rows.items()) if r},
        "bytes_by_table": {t: round(b) for t, b in sorted(size.items()) if b},
        "lifecycles": n,
        "method": "exact count(*) and pg_total_relation_size of every table before and after the batch, / n",
    }


async def figure_h(
    client: Client,
    metrics_url: str,
    queues: dict[str, str],
    n: int,
    concurrency: int,
    plan: dict[str, list[str]],
    pool: asyncpg.Pool | None = None,
) -> dict[str, Any]:
    """The real lifecycles read the read model from `pool`, as the console does (no status query)."""
    meter = ActionMeter(metrics_url, client.namespace)
    kinds: dict[str, Any] = {}
    for kind in KINDS:
        say(f"(h): {n} {kind} lifecycles alone, counting the server's actions")
        kinds[kind] = await batch(kind, client, meter, queues[kind], n, concurrency, plan, pool)
        say(f"        {kinds[kind]['actions_per_lifecycle']} actions per lifecycle: {kinds[kind]['by_type']}")
    return {
        "value": kinds["real"]["actions_per_lifecycle"],
        "unit": "actions per standard lifecycle (the dev server's `action` counter)",
        "kinds": kinds,
        "method": "delta of the dev server's Prometheus `action` counter (namespace, by action_type) around a "
        "batch of N lifecycles run alone, divided by N",
    }


def _explain(action_type: str, count: float, shape: dict[str, Any]) -> str:
    """What in the history makes these actions."""
    if action_type == "command_ScheduleActivityTask":
        acts = ", ".join(f"{v:g} {k}" for k, v in shape["activities"].items())
        return f"{count:g} activities ({acts})"
    if action_type == "command_StartTimer":
        return (
            f"{count:g} timers ({shape['timers_canceled']:g} cancelled by a change and re-armed, "
            f"{shape['timers_fired']:g} fired)"
        )
    if action_type == "command_UpsertWorkflowSearchAttributes":
        return (
            f"{count:g} search-attribute upserts ({shape['patch_upserts']:g} of them TemporalChangeVersion, "
            "made by workflow.patched)"
        )
    if action_type == "command_BatchMarkers":
        return f"{count:g} marker batches ({shape['markers']:g} markers: patches, local activities)"
    return f"{count:g} {action_type}"


def cause(fig: dict[str, Any]) -> str:
    kinds = fig["kinds"]
    real, ref = kinds["real"], kinds["reference"]
    parts = [_explain(k, v, real["history"]) for k, v in real["by_type"].items()]
    extra = {
        k: round(v - ref["by_type"].get(k, 0.0), 2)
        for k, v in real["by_type"].items()
        if v - ref["by_type"].get(k, 0.0) > 0
    }
    return (
        f"{real['actions_per_lifecycle']:g} actions per lifecycle vs {ref['actions_per_lifecycle']:g} for the "
        f"reference: "
        + "; ".join(parts)
        + ". More than the reference: "
        + ", ".join(f"{k} +{v:g}" for k, v in extra.items())
    )

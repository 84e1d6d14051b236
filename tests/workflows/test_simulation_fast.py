"""The simulator's fast path (`simulate_stored`: rows as read from the event store, JSON decoded in the
worker processes, no model per event) gives the same report as the straightforward path (`simulate` over
`CaseHistory` models in one process), byte for byte."""

from __future__ import annotations

import json

from bench.simulation import candidate_policy, make_histories
from workflows.models import DomainEvent
from workflows.policy import load_policy
from workflows.simulation import StoredRow, format_simulation, simulate, simulate_stored


def test_stored_rows_in_worker_processes_give_the_straightforward_report() -> None:
    policy = load_policy(None)
    histories = make_histories(300, policy, seed=5)
    rows: list[StoredRow] = [
        (
            h.workflow_id,
            [
                (
                    e.seq,
                    e.type,
                    e.at,
                    e.actor,
                    json.dumps(DomainEvent.model_validate(e).model_dump(mode="json")["data"]),
                )
                for e in h.events
            ],
        )
        for h in reversed(histories)
    ]
    candidate = candidate_policy(policy)
    straight = simulate(histories, candidate)
    assert straight.totals.cases == 300 and straight.totals.changed > 0
    for fast in (simulate_stored(rows, candidate), simulate_stored(rows, candidate, workers=2, parallel_from=0)):
        assert fast.model_dump_json() == straight.model_dump_json()
        assert format_simulation(fast) == format_simulation(straight)

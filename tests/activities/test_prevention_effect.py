"""A prevention action's effect on seeded data: the cause's closed cases per week in the 4 weeks
before it was done and after it (over the weeks passed so far when fewer), in the causes report's
JSON and in the /prevention list, with open actions sorted into open, due soon and overdue.

Cases are seeded through the projection (`project`), the actions through the workflow's own
projection activity (`project_prevention`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg

from activities.prevention import PreventionStore
from activities.store.projection import ProjectionBatch, project
from recovery.causes import causes_report
from recovery.prevention import actions
from tests.activities.test_causes import simple
from workflows.prevention_models import PreventionState

S = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
W, D, H = timedelta(weeks=1), timedelta(days=1), timedelta(hours=1)
DONE = S + 5 * W
RECENT = S + 9 * W
NOW = S + 11 * W


def state(action_id: str, cause: str, due: datetime, done_at: datetime | None = None, version: int = 1):
    return PreventionState(
        action_id=action_id,
        cause=cause,
        description=f"fix {cause}",
        owner="olga",
        due=due,
        opened_by="lena",
        opened_at=S,
        status="done" if done_at else "open",
        done_at=done_at,
        done_by="lena" if done_at else None,
        note="changed the packing check" if done_at else None,
        version=version,
    )


async def seed(db: asyncpg.Pool) -> None:
    closes = (
        # wrong-item: 8 in the 4 weeks before DONE (2/week), one 5 weeks before (outside), 2 in the 4 weeks
        # after (0.5/week), one more after those 4 weeks; 3 in the 2 weeks after RECENT.
        [DONE - n * 3 * D - H for n in range(1, 9)]
        + [DONE - 5 * W + H, DONE + 3 * D, DONE + 20 * D, DONE + 4 * W + 2 * D]
        + [RECENT + D, RECENT + 5 * D, RECENT + 12 * D]
    )
    for n, closed_at in enumerate(closes):
        case = simple(f"w{n}", closed_at, "wrong-item")
        assert await project(db, ProjectionBatch(workflow_id=f"complaint-w{n}", case_id=f"w{n}", events=case.events))
    other = simple("o1", DONE - D, "carrier")  # another cause: never counted
    assert await project(db, ProjectionBatch(workflow_id="complaint-o1", case_id="o1", events=other.events))
    store = PreventionStore(db)
    assert await store.project_prevention(state("prevention-a", "wrong-item", DONE, version=1))
    assert await store.project_prevention(state("prevention-a", "wrong-item", DONE, done_at=DONE, version=3))
    assert not await store.project_prevention(state("prevention-a", "wrong-item", DONE, version=2))  # older: kept
    assert await store.project_prevention(state("prevention-b", "wrong-item", RECENT, done_at=RECENT, version=2))
    assert await store.project_prevention(state("prevention-c", "wrong-item", NOW - D))  # overdue
    assert await store.project_prevention(state("prevention-d", "carrier", NOW + D))  # due soon
    assert await store.project_prevention(state("prevention-e", "late-courier", NOW + 10 * D))  # open


async def test_the_rate_before_and_after_a_done_action_in_the_causes_report(db: asyncpg.Pool) -> None:
    await seed(db)
    report = await causes_report(db, since=S, until=NOW, now=NOW)
    rows = {row["cause"]: row for row in json.loads(report.model_dump_json())["causes"]}
    wrong = rows["wrong-item"]["prevention"]
    assert [(a["id"], a["state"]) for a in wrong["open"]] == [("prevention-c", "overdue")]
    done = {a["id"]: a for a in wrong["done"]}
    assert (done["prevention-a"]["before_per_week"], done["prevention-a"]["after_per_week"]) == (2.0, 0.5)
    assert done["prevention-a"]["after_weeks"] == 4.0
    assert done["prevention-a"]["done_at"].startswith("2024-04-08")
    # Done 2 weeks before now: 4 cases over the 2 weeks so far (DONE + 4 W + 2 D = RECENT + 2 D, and the
    # three after RECENT); the 4 weeks before RECENT hold those at DONE + 3 D and DONE + 20 D.
    assert (done["prevention-b"]["before_per_week"], done["prevention-b"]["after_per_week"]) == (0.5, 2.0)
    assert done["prevention-b"]["after_weeks"] == 2.0
    assert rows["carrier"]["prevention"] == {
        "open": [
            {
                "id": "prevention-d",
                "description": "fix carrier",
                "owner": "olga",
                "due_at": "2024-05-21T00:00:00Z",
                "state": "due_soon",
            }
        ],
        "done": [],
    }
    # A cause with an action and no closed case still gets its row.
    assert rows["late-courier"]["cases"] == 0 and len(rows["late-courier"]["prevention"]["open"]) == 1
    assert report.effect_weeks == 4

    shorter = await causes_report(db, since=S, until=NOW, now=NOW, effect_weeks=1)
    short = {a.id: a for c in shorter.causes for a in c.prevention.done}
    # The week before DONE holds the closes at DONE - 3 D - 1 h and DONE - 6 D - 1 h.
    assert short["prevention-a"].before_per_week == 2.0 and short["prevention-a"].after_per_week == 1.0


async def test_the_list_sorts_open_due_soon_overdue_and_done(db: asyncpg.Pool) -> None:
    await seed(db)
    found = await actions(db, now=NOW)
    assert [(a.id, a.state) for a in found] == [
        ("prevention-c", "overdue"),
        ("prevention-d", "due_soon"),
        ("prevention-e", "open"),
        ("prevention-b", "done"),
        ("prevention-a", "done"),
    ]
    # Less than a day after it was done, there is no rate after it yet.
    early = {a.id: a for a in await actions(db, now=RECENT + 2 * H)}
    assert early["prevention-b"].after_per_week is None and early["prevention-b"].before_per_week == 0.5

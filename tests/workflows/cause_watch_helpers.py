"""What the cause-watch tests share: a roster with a cause owner, synthetic closes, the watch's state."""

from __future__ import annotations

import uuid
from datetime import datetime

from temporalio.client import Client
from temporalio.service import RPCError

from activities.roster import Roster, parse_roster
from workflows.effects import ProjectionBatch
from workflows.learning import LearningPolicy, WatchState, watch_id
from workflows.models import DomainEvent

OWNER_EMAIL = "olga@example.com"
CONSOLE = "http://console.test"
RULES = LearningPolicy.model_validate({"alerts": [{"cause": "default", "count": 5, "within": "7d"}]})
"""Every cause alerts at 5 closes in 7 days: each test watches a cause of its own (the watch's id
is per namespace, and the dev server is the session's)."""


def new_cause() -> str:
    return f"wrong-item-{uuid.uuid4().hex[:8]}"


def roster(cause: str, owner_slack: str, *, email: bool = True) -> Roster:
    mail = f'email = "{OWNER_EMAIL}"\n' if email else ""
    return parse_roster(
        f"""
[people.olga]
name = "Olga Owner"
{mail}slack = "{owner_slack}"

[people.lena]
name = "Lena Lead"
slack = "{owner_slack}lead"

[roles.team-lead]
people = ["lena"]

[causes.{cause}]
owner = "olga"
""",
        "test roster",
    )


def closed_batch(case_id: str, at: datetime, cause: str) -> ProjectionBatch:
    """The projector's batch holding a case's `closed` event (seq 8, as on the full path)."""
    closed = DomainEvent(seq=8, type="closed", at=at, actor="alice", data={"root_cause": cause, "note": "x"})
    return ProjectionBatch(workflow_id=f"complaint-{case_id}", case_id=case_id, events=[closed])


async def watch_state(client: Client, cause: str) -> WatchState | None:
    """The watch's state once its closes are all counted; None before it has started."""
    try:
        state = await client.get_workflow_handle(watch_id(cause)).query("window", result_type=WatchState)
    except RPCError:
        return None
    return None if state.pending else state


async def counted(client: Client, cause: str, cases: int) -> WatchState | None:
    state = await watch_state(client, cause)
    return state if state and state.current and len(state.current.cases) == cases else None

"""Recorded histories of the real workflow replay against today's code; a reordered command fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from recovery.converter import data_converter
from workflows.complaint import ComplaintWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def test_histories_are_committed() -> None:
    # Before the event store (no projection), after it (`project-events` patch), after the pause
    # budget and business calendars (`pause-budget` patch), and with the notification channels
    # (`channels` patch: plan + deliver activities), and after the `robust-cases` patch
    # (breach events, delivery-moved silence, bounded state…), and after the `lean-actions` patch
    # (events carried by the plan, one timer kept, no re-upserted start attributes): all must replay.
    assert {p.stem for p in HISTORIES} >= {
        "lifecycle_with_approval",
        "escalation_ladder",
        "lifecycle_with_approval_v2",
        "escalation_ladder_v2",
        "lifecycle_with_approval_calendars",
        "escalation_ladder_calendars",
        "pause_budget_calendars",
        "lifecycle_with_approval_assign",
        "escalation_ladder_assign",
        "lifecycle_with_approval_robust",
        "escalation_ladder_robust",
        "lifecycle_with_approval_channels",
        "escalation_ladder_channels",
        # `contacts-across-runs`: the rules decided in __init__, contacts' answers by update id.
        "lifecycle_with_approval_across",
        "escalation_ladder_across",
        "pause_budget_across",
        # `lean-actions` (implies every earlier patch): events on the plan, one timer, one upsert a task.
        "lifecycle_with_approval_lean",
        "escalation_ladder_lean",
        "pause_budget_lean",
        # `compact-actions`, named by the start (no patch): the compensation a local activity beside its
        # notice's plan, the follow-up step's deadline shown from its start.
        "lifecycle_with_approval_compact",
        "escalation_ladder_compact",
        "pause_budget_compact",
    }


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path) -> None:
    replayer = Replayer(workflows=[ComplaintWorkflow], data_converter=data_converter)
    result = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is None


async def test_reordered_command_breaks_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Publishing search attributes before doing the outbox reorders commands: replay must fail."""
    original = ComplaintWorkflow._drain

    async def publish_first(self: ComplaintWorkflow) -> None:
        if self.case.take_effect() is not None:
            workflow.upsert_search_attributes([])
            self._published = {}
            self._publish()
        await original(self)

    history = load(Path(__file__).parent / "histories" / "lifecycle_with_approval.json")
    replayer = Replayer(
        workflows=[ComplaintWorkflow], data_converter=data_converter, workflow_runner=UnsandboxedWorkflowRunner()
    )
    await replayer.replay_workflow(history)  # unchanged code, same runner: replays

    monkeypatch.setattr(ComplaintWorkflow, "_drain", publish_first)
    with pytest.raises(NondeterminismError, match="UpsertWorkflowSearchAttributes|ScheduleActivity"):
        await replayer.replay_workflow(history)

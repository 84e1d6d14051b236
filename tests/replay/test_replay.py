"""Recorded histories of the real workflow replay against today's code; a reordered command fails.

The fixtures are the 1.0 baseline's scenarios (tests/replay/record.py records them, once, and never
overwrites one): every committed file must keep replaying."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from recovery.converter import data_converter
from tests.replay.record import HISTORIES, SCENARIOS, fixture_names
from workflows import search_attributes as sa
from workflows.complaint import ComplaintWorkflow
from workflows.shell.delivery import Outbox

DIRECTORY = Path(os.environ.get("RECOVERY_REPLAY_HISTORIES") or HISTORIES)
"""The committed fixtures; RECOVERY_REPLAY_HISTORIES=DIR replays a trial recording (record.py --out DIR)."""
FILES = sorted(DIRECTORY.glob("*.json"))
NONDETERMINISM_FIXTURE = DIRECTORY / "four_eyes_approval.json"


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def test_every_scenario_is_committed() -> None:
    expected = {name for scenario in SCENARIOS for name in fixture_names(scenario)}
    missing = expected - {p.stem for p in FILES}
    assert not missing, f"not recorded (python -m tests.replay.record): {sorted(missing)}"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_recorded_history_replays(path: Path) -> None:
    replayer = Replayer(workflows=[ComplaintWorkflow], data_converter=data_converter)
    result = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is None


async def test_reordered_command_breaks_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Publishing search attributes before doing the outbox reorders commands: replay must fail."""
    assert NONDETERMINISM_FIXTURE.exists(), f"{NONDETERMINISM_FIXTURE.name}: not recorded yet (tests.replay.record)"
    original = Outbox.drain

    async def publish_first(self: Outbox) -> None:
        if workflow.info().workflow_type == "ComplaintWorkflow":
            workflow.upsert_search_attributes([sa.RECOVERY_STEP.value_set("reordered")])
        await original(self)

    history = load(NONDETERMINISM_FIXTURE)
    replayer = Replayer(
        workflows=[ComplaintWorkflow], data_converter=data_converter, workflow_runner=UnsandboxedWorkflowRunner()
    )
    await replayer.replay_workflow(history)  # unchanged code, same runner: replays

    monkeypatch.setattr(Outbox, "drain", publish_first)
    with pytest.raises(NondeterminismError, match="UpsertWorkflowSearchAttributes|ScheduleActivity"):
        await replayer.replay_workflow(history)

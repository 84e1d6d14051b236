"""`CaseState` is the contract between builds: the state every released build carried loads in today's
code, whole; and the check does catch a required field removed or renamed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import create_model

from tests.compat.contract import STATES, problems, samples
from workflows.case import SCHEMA_VERSION, CaseState

STORED = sorted(STATES.glob("*/*.json"))


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_every_released_build_has_samples() -> None:
    assert {p.parent.name for p in STORED} >= {"1.0.0"}


@pytest.mark.parametrize("path", STORED, ids=[f"{p.parent.name}/{p.stem}" for p in STORED])
def test_a_released_builds_state_loads_whole(path: Path) -> None:
    data = load(path)
    assert problems(CaseState, data) == []
    assert CaseState.model_validate(data).schema_version <= SCHEMA_VERSION


def test_todays_samples_load_whole() -> None:
    for state in samples().values():
        assert problems(CaseState, state.model_dump(mode="json")) == []


def renamed(old: str, new: str) -> type[CaseState]:
    """CaseState as a build that renamed the required field `old` to `new` would have it."""
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in CaseState.model_fields.items() if name != old
    }
    fields[new] = (CaseState.model_fields[old].annotation, ...)
    return create_model("RenamedCaseState", **fields)


def removed(field: str) -> type[CaseState]:
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in CaseState.model_fields.items() if name != field
    }
    return create_model("TrimmedCaseState", **fields)


def test_a_renamed_required_field_fails_the_check() -> None:
    data = load(STATES / "1.0.0" / "approval.json")
    found = problems(renamed("workflow_id", "workflow"), data)
    assert found == ["workflow: Field required"]


def test_a_removed_field_fails_the_check() -> None:
    data = load(STATES / "1.0.0" / "paused.json")
    assert problems(removed("pause_reason"), data) == ["pause_reason: dropped on load"]
    # ...and a nested one (a field of the step clock) is caught too.
    data["clock"]["surprise"] = 1
    assert "clock.surprise: dropped on load" in problems(CaseState, data)

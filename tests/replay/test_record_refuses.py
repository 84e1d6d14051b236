"""The recorder only adds fixtures: a scenario whose file exists is not recorded, and a file is never
replaced (decided by `plan`, written by `write_fixture`; no recording runs here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory

from tests.replay.record import SCENARIOS, fixture_names, main, plan, write_fixture


def test_an_existing_fixture_is_left_untouched(tmp_path: Path) -> None:
    existing = tmp_path / "four_eyes_approval.json"
    existing.write_text("recorded on the 1.0 baseline")

    todo, kept = plan(SCENARIOS, tmp_path)

    assert "four_eyes_approval" not in todo and kept == {"four_eyes_approval": [existing]}
    assert todo == [s for s in SCENARIOS if s != "four_eyes_approval"]
    with pytest.raises(FileExistsError):  # and writing it anyway is refused by the file system
        write_fixture(existing, WorkflowHistory("four_eyes_approval", []))
    assert existing.read_text() == "recorded on the 1.0 baseline"


def test_a_scenario_with_any_of_its_runs_recorded_is_left_untouched(tmp_path: Path) -> None:
    second = fixture_names("continue_as_new_contact_burst")[-1]
    assert second == "continue_as_new_contact_burst_run2"
    (tmp_path / f"{second}.json").write_text("{}")
    todo, kept = plan(["continue_as_new_contact_burst"], tmp_path)
    assert todo == [] and list(kept) == ["continue_as_new_contact_burst"]


def test_the_command_says_so_and_records_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for scenario in SCENARIOS:
        for name in fixture_names(scenario):
            (tmp_path / f"{name}.json").write_text("kept")
    assert main(["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert all(f"{s}: left untouched, already recorded" in out for s in SCENARIOS) and "nothing to record" in out
    assert all(p.read_text() == "kept" for p in tmp_path.iterdir())


def test_no_flag_overwrites(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--force"])
    with pytest.raises(SystemExit):
        main(["--scenario", "no_such_scenario"])
    capsys.readouterr()


def test_unknown_scenarios_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        plan(["lifecycle_with_approval"], tmp_path)

"""The build id: the package version plus a hash of the workflow code, stable until that code changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from recovery import versioning
from recovery.versioning import build_id, deployment_config, deployment_name, workflows_dir, workflows_hash


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "workflows"
    shutil.copytree(workflows_dir(), target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture(autouse=True)
def no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECOVERY_BUILD_ID", raising=False)
    monkeypatch.delenv("RECOVERY_DEPLOYMENT_NAME", raising=False)


def test_the_build_id_is_the_package_version_and_a_short_hash_of_the_workflow_code(copy: Path) -> None:
    build = build_id()
    version, _, digest = build.partition("+")
    assert version == versioning.package_version()
    assert len(digest) == versioning.HASH_LENGTH and int(digest, 16) >= 0
    assert build == build_id()  # stable
    assert build_id(copy) == build  # the same files elsewhere: the same build


def test_the_build_id_changes_when_a_workflow_file_changes(copy: Path) -> None:
    before = workflows_hash(copy)
    complaint = copy / "complaint.py"
    complaint.write_bytes(complaint.read_bytes() + b"\n# a change\n")
    assert workflows_hash(copy) != before


def test_a_new_renamed_or_packaged_toml_file_changes_it_and_other_files_do_not(copy: Path) -> None:
    before = workflows_hash(copy)
    (copy / "notes.txt").write_text("not code")
    (copy / "__pycache__").mkdir(exist_ok=True)
    (copy / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    assert workflows_hash(copy) == before
    (copy / "shell" / "extra.py").write_text("")
    with_new = workflows_hash(copy)
    assert with_new != before
    (copy / "shell" / "extra.py").rename(copy / "extra.py")
    assert workflows_hash(copy) not in (before, with_new)
    (copy / "extra.py").unlink()
    assert workflows_hash(copy) == before
    policy = copy / "default_policy.toml"
    policy.write_text(policy.read_text() + "\n")
    assert workflows_hash(copy) != before


def test_the_environment_overrides_the_build_id_and_the_deployment(monkeypatch: pytest.MonkeyPatch, copy: Path) -> None:
    assert deployment_name() == "recovery"
    monkeypatch.setenv("RECOVERY_BUILD_ID", "ci-1234")
    monkeypatch.setenv("RECOVERY_DEPLOYMENT_NAME", "recovery-eu")
    (copy / "complaint.py").write_text("changed")
    assert build_id(copy) == "ci-1234"
    config = deployment_config(True)
    assert config is not None and config.use_worker_versioning
    assert (config.version.deployment_name, config.version.build_id) == ("recovery-eu", "ci-1234")
    assert deployment_config(False) is None


def test_the_version_falls_back_to_pyproject(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise versioning.importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(versioning.importlib.metadata, "version", missing)
    import tomllib

    expected = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]["version"]
    assert versioning.package_version() == expected

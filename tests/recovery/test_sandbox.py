"""The worker shares its workflow modules between runs (recovery.sandbox): safe only while those modules
keep no mutable state of their own, which a shared module would share between every cached case."""

from __future__ import annotations

import importlib
import types

import pytest

from bench.floor_workflow import FloorWorkflow
from bench.reference_workflow import ReferenceWorkflow
from recovery.sandbox import sharing_workflow_modules
from workflows.complaint import ComplaintWorkflow

SHARED = [ComplaintWorkflow, FloorWorkflow, ReferenceWorkflow]
MUTABLE = (list, dict, set, bytearray)


def test_the_runner_passes_the_workflows_modules_through() -> None:
    runner = sharing_workflow_modules(*SHARED)
    assert {cls.__module__ for cls in SHARED} <= set(runner.restrictions.passthrough_modules)
    # everything else the SDK passes through (or restricts) by default stays as it is
    assert "datetime" in runner.restrictions.invalid_module_members.children


@pytest.mark.parametrize("cls", SHARED, ids=lambda c: c.__name__)
def test_a_shared_workflow_module_holds_no_mutable_state(cls: type) -> None:
    module = importlib.import_module(cls.__module__)
    mutable = {
        name: type(value).__name__
        for name, value in vars(module).items()
        if not name.startswith("__") and isinstance(value, MUTABLE) and not isinstance(value, types.ModuleType)
    }
    assert mutable == {}, f"{module.__name__} would share these between runs: {mutable}"
    # nor on the class: a class attribute holding a list or dict would be shared by every instance
    shared_on_class = {
        name: type(value).__name__
        for name, value in vars(cls).items()
        if isinstance(value, MUTABLE) and not name.startswith("__")
    }
    assert shared_on_class == {}, f"{cls.__name__} would share these between runs: {shared_on_class}"

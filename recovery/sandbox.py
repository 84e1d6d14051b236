"""The workflow sandbox a worker runs its workflows in: the SDK's default, except that the workflows'
own modules are passed through, and without a per-payload cost of the SDK (temporalio 1.35).

The sandbox re-executes a workflow's module for every run it starts, so each cached case used to hold
its own copy of the class, its handlers, validators and queries, and the SDK's per-run handler
definitions (figure (f) of `python -m bench`). Passed through, the module is imported once per worker
and shared by every run, like the shell modules it imports (`workflows.shell`, also passed through).
What that gives up: the sandbox's checks (restricted calls such as `datetime.now()`) no longer see
code in these modules while a case runs. They still do in the replay tests, which replay every recorded
history with the default sandbox (`tests/replay/test_replay.py`), and the modules hold no mutable
module-level state (`tests/recovery/test_sandbox.py`), which a shared module would share between runs.

The per-payload cost: for every payload of every activation and completion the SDK's command-aware
data converter asks the workflow instance for its serialization context (seven passes: decode
reference / external / codec, encode codec / external store (twice) / reference), even with no codec
and no external storage. The sandboxed instance answers each by `exec`-ing a code string, compiled
anew each time, under the sandbox's import hooks: in an escalation storm, a quarter of the worker's
Python CPU. The instances here compile each code string once, and answer the two context questions
directly: those only read the run's info and its pending commands (no import, no workflow code), so
the sandbox's hooks guard nothing there. Activations, the workflow's own code, run as before.
`_Instance` is the SDK's private class: if a release changes its shape, the stock runner is used
(and tests/recovery/test_sandbox.py fails, so the upgrade is noticed).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import CodeType
from typing import Any

from temporalio.converter import SerializationContext
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

try:
    from temporalio.worker.workflow_sandbox import _runner
except ImportError:  # pragma: no cover - another SDK layout: the stock runner
    _runner = None  # type: ignore[assignment]

_HOOKS = ("_run_code", "get_serialization_context", "get_external_store_context")
SUPPORTED = _runner is not None and all(hasattr(getattr(_runner, "_Instance", None), name) for name in _HOOKS)
"""Whether this SDK has the private pieces the fast runner builds on."""


def sharing_workflow_modules(*workflows: type) -> SandboxedWorkflowRunner:
    """The default sandbox with the modules defining `workflows` passed through (shared by all runs),
    without the per-payload `exec` where the SDK allows it."""
    modules = sorted({cls.__module__ for cls in workflows})
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*modules)
    runner = FastSandboxedWorkflowRunner if SUPPORTED else SandboxedWorkflowRunner
    return runner(restrictions=restrictions)


@functools.lru_cache(maxsize=64)
def _compiled(code: str) -> CodeType:
    # "<string>": the name `exec` of a string gives, so tracebacks read as with the stock runner
    return compile(code, "<string>", "exec")


if SUPPORTED:

    class _Instance(_runner._Instance):
        def _run_code(self, code: str | CodeType, **extra_globals: Any) -> None:
            # the SDK's `exec` takes the compiled code as well as its text
            super()._run_code(_compiled(code) if isinstance(code, str) else code, **extra_globals)  # type: ignore[arg-type]

        def _in_sandbox(self) -> Any:
            return self.globals_and_locals.get("__temporal_in_sandbox")

        def get_serialization_context(self, command_info: Any) -> SerializationContext | None:
            inner = self._in_sandbox()
            if inner is None:
                return super().get_serialization_context(command_info)
            context: SerializationContext | None = inner.get_serialization_context(command_info)
            return context

        def get_external_store_context(self, command_info: Any) -> Any:
            inner = self._in_sandbox()
            if inner is None:
                return super().get_external_store_context(command_info)
            return inner.get_external_store_context(command_info)


@dataclass(frozen=True)
class FastSandboxedWorkflowRunner(SandboxedWorkflowRunner):
    """The SDK's sandboxed runner whose instances skip the per-payload `exec` (see the module docstring)."""

    def create_instance(self, det: Any) -> Any:
        return _Instance(det, self.runner_class, self.restrictions)

"""The workflow sandbox a worker runs its workflows in: the SDK's default, except that the workflows'
own modules are passed through.

The sandbox re-executes a workflow's module for every run it starts, so each cached case used to hold
its own copy of the class, its handlers, validators and queries, and the SDK's per-run handler
definitions (figure (f) of `python -m bench`). Passed through, the module is imported once per worker
and shared by every run, like the shell modules it imports (`workflows.shell`, also passed through).
What that gives up: the sandbox's checks (restricted calls such as `datetime.now()`) no longer see
code in these modules while a case runs. They still do in the replay tests, which replay every recorded
history with the default sandbox (`tests/replay/test_replay.py`), and the modules hold no mutable
module-level state (`tests/recovery/test_sandbox.py`), which a shared module would share between runs.
"""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions


def sharing_workflow_modules(*workflows: type) -> SandboxedWorkflowRunner:
    """The default sandbox with the modules defining `workflows` passed through (shared by all runs)."""
    modules = sorted({cls.__module__ for cls in workflows})
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*modules))

"""The worker's sandbox (recovery.sandbox). It shares the workflow modules between runs: safe only while
those modules keep no mutable state of their own, which a shared module would share between every cached
case. Its instances skip the SDK's per-payload exec: the SDK still has the private pieces that builds on,
the payloads get the same serialization contexts as with the stock runner, the sandbox still restricts
workflow code, and every recorded history replays through it."""

from __future__ import annotations

import importlib
import types
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter, PayloadCodec, SerializationContext, WithSerializationContext
from temporalio.worker import Replayer, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import RestrictedWorkflowAccessError, SandboxedWorkflowRunner

from bench.floor_workflow import FloorWorkflow
from bench.reference_workflow import ReferenceWorkflow
from recovery.converter import data_converter
from recovery.sandbox import SUPPORTED, FastSandboxedWorkflowRunner, sharing_workflow_modules
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


HISTORIES = sorted((Path(__file__).parents[1] / "replay" / "histories").glob("*.json"))


@activity.defn(name="sandbox-echo")
async def echo(text: str) -> str:
    return text


@workflow.defn(name="SandboxProbe")
class SandboxProbe:
    @workflow.run
    async def run(self, text: str) -> str:
        try:
            datetime.now()
            restricted = "no"
        except RestrictedWorkflowAccessError:
            restricted = "yes"
        remote = await workflow.execute_activity(
            echo, text, start_to_close_timeout=timedelta(seconds=10), summary="echo remote"
        )
        local = await workflow.execute_local_activity(
            echo, remote, start_to_close_timeout=timedelta(seconds=10), summary="echo local"
        )
        await workflow.sleep(0.01, summary="nap")
        return f"{local} restricted={restricted}"


class RecordingCodec(PayloadCodec, WithSerializationContext):
    """Notes the serialization context of every payload it encodes or decodes."""

    def __init__(self, seen: list[tuple[str, str]], context: SerializationContext | None = None):
        self.seen = seen
        self.context = context

    def with_context(self, context: SerializationContext) -> RecordingCodec:
        return RecordingCodec(self.seen, context)

    def _note(self, direction: str, payloads: Any) -> list[Payload]:
        context = self.context
        # ids and queues differ between the two runs: the kind of context and what it names must match
        differ = ("workflow_id", "activity_id", "activity_task_queue")
        named = {k: v for k, v in vars(context).items() if k not in differ} if context else {}
        self.seen.extend((direction, f"{type(context).__name__} {sorted(named.items())}") for _ in payloads)
        return list(payloads)

    async def encode(self, payloads: Any) -> list[Payload]:
        return self._note("encode", payloads)

    async def decode(self, payloads: Any) -> list[Payload]:
        return self._note("decode", payloads)


async def run_probe(client: Client, runner: WorkflowRunner) -> tuple[str, list[tuple[str, str]]]:
    seen: list[tuple[str, str]] = []
    converter = DataConverter(
        payload_converter_class=data_converter.payload_converter_class, payload_codec=RecordingCodec(seen)
    )
    recording = Client(client.service_client, namespace=client.namespace, data_converter=converter)
    queue = f"sandbox-{uuid.uuid4().hex[:8]}"
    async with Worker(recording, task_queue=queue, workflows=[SandboxProbe], activities=[echo], workflow_runner=runner):
        result = await recording.execute_workflow(
            SandboxProbe.run, "hello", id=f"probe-{queue}", task_queue=queue, execution_timeout=timedelta(seconds=30)
        )
    return result, seen


def test_the_sdk_still_has_what_the_fast_runner_uses() -> None:
    # Fails after an SDK upgrade that reshaped the private sandbox classes (the worker then falls
    # back to the stock runner, correct but slower): look again at recovery/sandbox.py.
    assert SUPPORTED
    assert isinstance(sharing_workflow_modules(ComplaintWorkflow), FastSandboxedWorkflowRunner)


async def test_same_contexts_and_restrictions_as_the_stock_sandbox(client: Client) -> None:
    stock, stock_seen = await run_probe(client, SandboxedWorkflowRunner())
    # the probe's module not passed through: the sandbox's checks must still see its code
    fast, fast_seen = await run_probe(client, FastSandboxedWorkflowRunner())
    assert stock == fast == "hello restricted=yes"
    assert any("ActivitySerializationContext" in context for _, context in stock_seen)
    assert sorted(fast_seen) == sorted(stock_seen)


async def test_recorded_histories_replay_with_the_worker_runner() -> None:
    replayer = Replayer(
        workflows=[ComplaintWorkflow],
        data_converter=data_converter,
        workflow_runner=sharing_workflow_modules(ComplaintWorkflow),
    )
    for path in HISTORIES:
        history = WorkflowHistory.from_json(path.stem, path.read_text())
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, path.stem

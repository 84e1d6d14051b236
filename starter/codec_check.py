"""Refuse to write into an encrypted namespace without its keys (issue 15.9).

A client without `RECOVERY_CODEC_KEYS` would start a case with the ticket in plain text in the
history, and then fail to read the (encrypted) answer of the worker. So, on connect, a client that
is about to write looks at the newest case on its task queue: if that case's input is encrypted
with a key id this client does not hold, it stops before anything is sent. An empty task queue, or
one whose cases are not encrypted, passes (turning encryption on for a running system is allowed).
"""

from __future__ import annotations

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client
from temporalio.service import RPCError

from recovery.codec import ENCODING, KEY_ID_METADATA, KEYS_ENV, EncryptionCodec


class CodecMismatch(RuntimeError):
    """This client's payload keys don't match the ones the task queue's cases are written with."""


async def newest_case_key_id(client: Client, task_queue: str) -> str | None:
    """The key id of the newest case on `task_queue`, "" when it is not encrypted, None when there is none."""
    query = f"WorkflowType = 'ComplaintWorkflow' AND TaskQueue = '{_quoted(task_queue)}'"
    try:
        async for execution in client.list_workflows(query, limit=1):
            history = await client.workflow_service.get_workflow_execution_history(
                GetWorkflowExecutionHistoryRequest(
                    namespace=client.namespace,
                    maximum_page_size=1,
                    execution=WorkflowExecution(workflow_id=execution.id, run_id=execution.run_id),
                )
            )
            if not history.history.events:
                return None
            payloads = history.history.events[0].workflow_execution_started_event_attributes.input.payloads
            if not payloads or payloads[0].metadata.get("encoding") != ENCODING:
                return ""
            return payloads[0].metadata.get(KEY_ID_METADATA, b"?").decode("utf-8", errors="replace")
    except RPCError:
        return None  # the check can't be made (e.g. no visibility permission); the write decides
    return None


async def require_namespace_keys(client: Client, task_queue: str) -> None:
    """Raise CodecMismatch when the newest case on `task_queue` is encrypted under a key this client lacks."""
    key_id = await newest_case_key_id(client, task_queue)
    if not key_id:
        return
    codec = client.data_converter.payload_codec
    held = codec.key_ids if isinstance(codec, EncryptionCodec) else []
    if key_id in held:
        return
    if not held:
        raise CodecMismatch(
            f"the cases on task queue {task_queue!r} are encrypted (key id {key_id!r}) but this "
            f"client has no payload keys; set {KEYS_ENV} as on the workers (nothing was sent)"
        )
    raise CodecMismatch(
        f"the cases on task queue {task_queue!r} are encrypted with key id {key_id!r}, which is "
        f"not among this client's keys ({', '.join(held)}); nothing was sent"
    )


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")

"""Every row of `starter.server_errors`' classification: the error Temporal answers with → the
CaseError the CLI raises → the API's status and `{error, detail}` body. The errors are built
directly (the messages are the server's); no servers needed. Which answers are retried against a
case continuing as new is `test_moving.py`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, NamedTuple

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.service import RPCError, RPCStatusCode

from starter import cases
from starter.api.errors import install_error_handlers
from starter.server_errors import CaseError, case_error, query_error, rejection, task_failed

WORKFLOW_ID = "complaint-cust-1:ord-1"


def refused(kind: str | None, message: str = "refused") -> WorkflowUpdateFailedError:
    return WorkflowUpdateFailedError(ApplicationError(message, type=kind, non_retryable=True))


def rpc(status: RPCStatusCode, message: str) -> RPCError:
    return RPCError(message, status, b"")


class Row(NamedTuple):
    name: str
    err: Exception
    code: str
    http: int
    detail: str
    """The whole message, or (ending in …) its start."""


UPDATE_ROWS = [
    # The workflow's refusals (validator or the check under its lock): kind and message as raised.
    Row(
        "out of order",
        refused("out_of_order", "step 'fix' needs 'acknowledge' first"),
        "out_of_order",
        409,
        "step 'fix' needs 'acknowledge' first",
    ),
    Row("closed", refused("closed", "the case is closed"), "closed", 409, "the case is closed"),
    Row("conflict", refused("conflict", "already assigned"), "conflict", 409, "already assigned"),
    Row("not ready", refused("not_ready", "no proposal yet"), "not_ready", 409, "no proposal yet"),
    Row("forbidden", refused("forbidden", "may not approve"), "forbidden", 403, "may not approve"),
    Row("invalid", refused("invalid", "amount: must be positive"), "invalid", 422, "amount: must be positive"),
    Row("untyped refusal", refused(None, "no kind given"), "invalid", 422, "no kind given"),
    # A kind the API has no status for (e.g. `moving` once the retries ran out): the default, 409.
    Row(
        "unknown kind",
        refused("moving", "the case is moving to a new run"),
        "moving",
        409,
        "the case is moving to a new run",
    ),
    # A failure that is not an ApplicationError (a payload the workflow could not decode): bad input.
    Row(
        "failure cause",
        WorkflowUpdateFailedError(CancelledError("payload could not be decoded")),
        "invalid",
        422,
        "payload could not be decoded",
    ),
    Row("plain cause", WorkflowUpdateFailedError(ValueError("bad payload")), "invalid", 422, "bad payload"),
]
RPC_ROWS = [
    Row(
        "completed",
        rpc(RPCStatusCode.NOT_FOUND, "workflow execution already completed"),
        "closed",
        409,
        f"case {WORKFLOW_ID} is closed",
    ),
    Row(
        "workflow closed",
        rpc(RPCStatusCode.NOT_FOUND, "Workflow is Closed"),
        "closed",
        409,
        f"case {WORKFLOW_ID} is closed",
    ),
    Row(
        "not found",
        rpc(RPCStatusCode.NOT_FOUND, f"workflow not found for ID: {WORKFLOW_ID}"),
        "not_found",
        404,
        f"no case {WORKFLOW_ID}",
    ),
    Row(
        "invalid argument",
        rpc(RPCStatusCode.INVALID_ARGUMENT, "id too long"),
        "invalid",
        422,
        "Temporal refused the request as invalid: id too long",
    ),
    Row(
        "unavailable",
        rpc(RPCStatusCode.UNAVAILABLE, "connection refused"),
        "unavailable",
        503,
        "Temporal is unreachable: connection refused",
    ),
    Row(
        "deadline",
        rpc(RPCStatusCode.DEADLINE_EXCEEDED, "deadline exceeded"),
        "unavailable",
        503,
        "Temporal is unreachable: deadline exceeded",
    ),
    Row(
        "rate limited",
        rpc(RPCStatusCode.RESOURCE_EXHAUSTED, "namespace rate limit exceeded"),
        "unavailable",
        503,
        "Temporal refused the call: namespace rate limit exceeded",
    ),
    Row(
        "permission",
        rpc(RPCStatusCode.PERMISSION_DENIED, "no access"),
        "unavailable",
        503,
        "Temporal refused the call: no access",
    ),
    Row(
        "task failure",
        rpc(RPCStatusCode.FAILED_PRECONDITION, "unexpected workflow task failure"),
        "unavailable",
        503,
        "Temporal refused the call: unexpected workflow task failure",
    ),
]
QUERY_ROWS = [
    # A query its worker could not answer: the case exists, so 503, never a stack trace.
    Row(
        "query failed",
        WorkflowQueryFailedError("no worker can replay it"),
        "unavailable",
        503,
        f"case {WORKFLOW_ID} could not be read just now: no worker can replay it",
    ),
    Row(
        "query rejected",
        WorkflowQueryRejectedError(WorkflowExecutionStatus.FAILED),
        "unavailable",
        503,
        f"case {WORKFLOW_ID} could not be read just now: …",
    ),
    # RPC errors are read as for updates.
    *(row._replace(name=f"query {row.name}") for row in RPC_ROWS),
]


def matches(detail: str, expected: str) -> bool:
    return detail.startswith(expected[:-1]) if expected.endswith("…") else detail == expected


@pytest.mark.parametrize("row", UPDATE_ROWS + RPC_ROWS, ids=lambda row: row.name)
def test_an_update_or_call_error_is_classified(row: Row) -> None:
    got = case_error(row.err, WORKFLOW_ID)
    assert isinstance(got, CaseError)
    assert got.code == row.code and matches(got.message, row.detail), got.message
    assert str(got) == got.message


@pytest.mark.parametrize("row", QUERY_ROWS, ids=lambda row: row.name)
def test_a_query_error_is_classified(row: Row) -> None:
    got = query_error(row.err, WORKFLOW_ID)
    assert got.code == row.code and matches(got.message, row.detail), got.message


@pytest.fixture(scope="module")
async def api() -> AsyncIterator[httpx.AsyncClient]:
    """Only the API's error handlers: a route raising the classified error of the row asked for."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/rows/{index}")
    async def raise_row(index: int) -> None:
        raise case_error(ALL_ROWS[index].err, WORKFLOW_ID)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        yield http


ALL_ROWS = UPDATE_ROWS + RPC_ROWS


@pytest.mark.parametrize("index", range(len(ALL_ROWS)), ids=lambda i: ALL_ROWS[i].name)
async def test_the_api_answers_with_the_rows_status_and_body(api: httpx.AsyncClient, index: int) -> None:
    row = ALL_ROWS[index]
    response = await api.get(f"/rows/{index}")
    assert response.status_code == row.http
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == row.code and matches(body["detail"], row.detail), body


@pytest.mark.parametrize(
    ("err", "kind"),
    [
        (refused("closed"), "closed"),
        (refused("UnprocessedUpdate"), "UnprocessedUpdate"),
        (refused(None), None),
        (WorkflowUpdateFailedError(CancelledError("x")), None),
        (rpc(RPCStatusCode.NOT_FOUND, "closed"), None),
        (ApplicationError("not wrapped in an update failure", type="closed"), None),
    ],
    ids=str,
)
def test_the_rejection_kind_is_the_application_errors_type(err: Exception, kind: str | None) -> None:
    assert rejection(err) == kind


@pytest.mark.parametrize(
    ("err", "failed"),
    [
        (rpc(RPCStatusCode.FAILED_PRECONDITION, "… due to unexpected workflow task failure."), True),
        (rpc(RPCStatusCode.FAILED_PRECONDITION, "workflow is not running"), False),
        (rpc(RPCStatusCode.UNAVAILABLE, "unexpected workflow task failure"), False),
        (refused("invalid", "workflow task failure"), False),
    ],
    ids=str,
)
def test_a_failed_workflow_task_is_only_that_precondition(err: Exception, failed: bool) -> None:
    assert task_failed(err) is failed


class _Handle:
    def __init__(self, err: Exception):
        self.err = err

    async def query(self, *_: Any) -> Any:
        raise self.err


class _Client:
    """A client whose every query fails with one error: is `starter.cases` wired to the table?"""

    def __init__(self, err: Exception):
        self.err = err
        self.asked: list[str] = []

    def get_workflow_handle(self, workflow_id: str) -> _Handle:
        self.asked.append(workflow_id)
        return _Handle(self.err)


@pytest.mark.parametrize("row", QUERY_ROWS, ids=lambda row: row.name)
async def test_the_case_operations_raise_the_classified_error(row: Row) -> None:
    client = _Client(row.err)
    for read in (cases.status, cases.timeline):
        with pytest.raises(CaseError) as raised:
            await read(client, "cust-1:ord-1")  # type: ignore[arg-type]
        assert raised.value.code == row.code and matches(raised.value.message, row.detail)
        assert raised.value.__suppress_context__  # `from None`: no chained Temporal traceback
    assert client.asked == [WORKFLOW_ID, WORKFLOW_ID]

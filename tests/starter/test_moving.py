"""Which answers to an update racing continue-as-new `open_case` and `run_step` ask the case again
for (the update was not applied, or — for a contact — is recognised by its update id), and which
they pass on. The messages are the server's (temporalio/temporal, service/history/consts and
workflow/update); no servers needed."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from starter.server_errors import contact_retry, moving


def rejected(kind: str) -> WorkflowUpdateFailedError:
    return WorkflowUpdateFailedError(ApplicationError("no", type=kind, non_retryable=True))


def rpc(status: RPCStatusCode, message: str) -> RPCError:
    return RPCError(message, status, b"")


NOT_APPLIED = [
    rejected("moving"),
    rejected("UnprocessedUpdate"),
    rpc(RPCStatusCode.RESOURCE_EXHAUSTED, "workflow operation can not be applied because workflow is closing"),
    rpc(RPCStatusCode.UNAVAILABLE, "workflow operation can not be applied because workflow is closing"),
    rpc(RPCStatusCode.ABORTED, "update aborted by closing workflow"),
    rpc(RPCStatusCode.NOT_FOUND, "update aborted by closing workflow"),
    rpc(RPCStatusCode.NOT_FOUND, "workflow execution already completed"),
]
PASSED_ON = [
    rejected("closed"),
    rejected("out_of_order"),
    rpc(RPCStatusCode.NOT_FOUND, "workflow not found for ID: complaint-x"),
    rpc(RPCStatusCode.RESOURCE_EXHAUSTED, "namespace rate limit exceeded"),
    rpc(RPCStatusCode.UNAVAILABLE, "connection refused"),
    rpc(RPCStatusCode.INVALID_ARGUMENT, "bad"),
]


@pytest.mark.parametrize("err", NOT_APPLIED, ids=str)
def test_answers_of_an_update_the_closing_run_did_not_apply_are_asked_again(err: Exception) -> None:
    assert moving(err) and contact_retry(err)


@pytest.mark.parametrize("err", PASSED_ON, ids=str)
def test_other_answers_are_passed_on(err: Exception) -> None:
    assert not moving(err) and not contact_retry(err)


def test_a_contact_whose_workflow_task_failed_is_asked_again() -> None:
    # The continuing task refused by the server (UnhandledCommand: new updates arrived meanwhile): the
    # updates it carried are aborted with this; none was applied. (`run_step` retries it on its own.)
    err = rpc(
        RPCStatusCode.FAILED_PRECONDITION,
        "Unable to perform workflow execution update due to unexpected workflow task failure.",
    )
    assert contact_retry(err) and not moving(err)


def test_a_contact_accepted_by_a_run_that_ended_is_asked_again_but_a_step_is_not() -> None:
    # The contact was applied at acceptance and travels in the carried state: the next run answers the
    # same update id with its first answer. A step (acknowledge, …) is not re-sent: it may have happened.
    err = rejected("AcceptedUpdateCompletedWorkflow")
    assert contact_retry(err) and not moving(err)

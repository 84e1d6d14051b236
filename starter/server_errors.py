"""How Temporal's answers are read on the client side: a refused update (the workflow's
ApplicationError types), the server's RPC status codes and messages (a case not found, closed,
continuing as new, Temporal unreachable, …), classified as `CaseError`s for the CLI and the API, or
as "not applied, ask again" for `starter.cases`' retry loops. Pure functions, no server needed:
every row is in `tests/starter/test_server_errors.py` and `tests/starter/test_moving.py`."""

from __future__ import annotations

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from workflows.shell.start import MOVING


class CaseError(Exception):
    """A step the engine refused, or a case that can't be reached. `code` is the rejection kind:
    out_of_order, closed, forbidden, invalid, conflict, not_ready, not_found, unavailable."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


UNPROCESSED = "UnprocessedUpdate"
"""The server's rejection of an update the worker never answered (its type may carry a suffix)."""
ACCEPTED_THEN_CLOSED = "AcceptedUpdateCompletedWorkflow"
"""The server's failure of an accepted update whose run ended before the update completed."""


def rejection(err: Exception) -> str | None:
    """The type of the ApplicationError an update was refused with (the validator's or the
    handler's kind, or the server's), else None."""
    if isinstance(err, WorkflowUpdateFailedError) and isinstance(err.cause, ApplicationError):
        return err.cause.type
    return None


def moving(err: Exception) -> bool:
    """The update was not applied, and the case's latest run may take it: the case is continuing as
    new. The server's answers for an update racing continue-as-new: the validator's `moving`; never
    processed by the worker; admitted to the run that was closing ("workflow is closing",
    RESOURCE_EXHAUSTED, or UNAVAILABLE in other versions; ABORTED, or NOT_FOUND "update aborted by
    closing workflow", for update-with-start after the server's own retry); sent to the run just ended
    ("workflow execution already completed")."""
    kind = rejection(err)
    if kind == MOVING or (kind or "").startswith(UNPROCESSED):
        return True
    if not isinstance(err, RPCError):
        return False
    message = err.message.lower()
    if err.status == RPCStatusCode.NOT_FOUND:
        return "completed" in message or "closing" in message
    if err.status in (RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.UNAVAILABLE):
        return "closing" in message
    return err.status == RPCStatusCode.ABORTED and "clos" in message


def task_failed(err: Exception) -> bool:
    """The workflow task carrying the update failed — under load mostly the continuing task, which the
    server refuses (UnhandledCommand) when new updates arrived meanwhile: its effects are discarded, so
    the update was never applied."""
    return (
        isinstance(err, RPCError)
        and err.status == RPCStatusCode.FAILED_PRECONDITION
        and "workflow task failure" in err.message
    )


def contact_retry(err: Exception) -> bool:
    """`moving`, a failed workflow task, or a contact accepted by a run that ended before answering:
    asking again is safe for a contact (the same update id gets its first answer in the next run, the
    event id is counted once)."""
    return moving(err) or task_failed(err) or rejection(err) == ACCEPTED_THEN_CLOSED


def case_error(err: Exception, workflow_id: str) -> CaseError:
    """A refused update or a failed call as the CaseError the CLI and the API answer with (its code
    picks the HTTP status: `starter.api.errors.CASE_ERROR_STATUS`)."""
    if isinstance(err, WorkflowUpdateFailedError):
        cause = err.cause
        if isinstance(cause, ApplicationError):
            return CaseError(cause.type or "invalid", cause.message)
        # A payload the workflow could not decode is bad input, not a server fault.
        return CaseError("invalid", str(cause.message if hasattr(cause, "message") else cause))
    assert isinstance(err, RPCError)
    if err.status == RPCStatusCode.NOT_FOUND:
        if "completed" in err.message or "closed" in err.message.lower():
            return CaseError("closed", f"case {workflow_id} is closed")
        return CaseError("not_found", f"no case {workflow_id}")
    if err.status == RPCStatusCode.INVALID_ARGUMENT:
        return CaseError("invalid", f"Temporal refused the request as invalid: {err.message}")
    if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return CaseError("unavailable", f"Temporal is unreachable: {err.message}")
    return CaseError("unavailable", f"Temporal refused the call: {err.message}")


def query_error(err: Exception, workflow_id: str) -> CaseError:
    """A query that failed: the case exists but its worker could not answer (e.g. a closed case
    whose history no worker can replay now) — 503, never a stack trace."""
    if isinstance(err, RPCError):
        return case_error(err, workflow_id)
    return CaseError("unavailable", f"case {workflow_id} could not be read just now: {err}")

"""The workflow's input, retry policies and limits (immutable, shared by all runs)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio.common import RetryPolicy

from workflows.case import CaseState
from workflows.models import TicketEvent
from workflows.policy import Policy
from workflows.rules import RuleMatch

NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1), maximum_attempts=20
)
CHANNEL_REJECTED = "ChannelRejected"
"""A channel's final refusal (bad address, 4xx, 5xx from a mail server): never retried."""
UNREACHABLE_RETRIES = (timedelta(minutes=5), timedelta(minutes=15), timedelta(minutes=45))
"""A message to staff that reached nobody because channels were down is tried again after these."""
# A person's channel gives up after a few minutes, so the next person of the role is tried.
PERSON_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=[CHANNEL_REJECTED],
)
CUSTOMER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=30,
    non_retryable_error_types=[CHANNEL_REJECTED],
)
PROJECT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
# Retries give up soon: the outcome is then "unknown" and re-checked under the same key
# (Case.compensation_unknown), so a long provider outage neither wedges the case nor pays twice.
ISSUE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
    non_retryable_error_types=["CompensationDeclined"],
)
ISSUE_LOCAL_BOUND = timedelta(minutes=5)
"""All attempts of a local issue (ISSUE_RETRY: 5 of at most 30 s, 1-10 s apart)."""
DECLINED = "CompensationDeclined"
MAX_UPDATES_PER_RUN = 500
"""Continue as new after this many updates, well below the server's 2,000 per run."""
OPENED_AT_TOLERANCE = timedelta(seconds=5)
DELIVERIES_AT_MOVE = timedelta(seconds=10)
"""How long continue-as-new waits for deliveries in flight before carrying them to the new run."""
MOVING = "moving"
"""Update rejection while the run continues as new: the caller retries, reaching the new run."""


class CaseStart(BaseModel):
    """The workflow's input: the opening ticket and the policy snapshot, or (after
    continue-as-new, possibly onto a newer build) the whole state carried over."""

    ticket: TicketEvent
    policy: Policy
    state: CaseState | None = None
    rule: RuleMatch | None = None
    """The policy rule that chose `policy` (recorded in the `opened` event)."""
    opened_at: datetime | None = None
    """When the client opened the case: the opening deadline it put in the start's search attributes
    is computed from it, so the first run need not upsert it."""

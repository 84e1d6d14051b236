"""The workflow's input, its patch names, retry policies and limits (immutable, shared by all runs)."""

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
# A person's channel gives up after a few minutes, so the next person of the role is tried.
PERSON_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=["ChannelRejected"],
)
CUSTOMER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=30,
    non_retryable_error_types=["ChannelRejected"],
)
PROJECT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
ISSUE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=10,
    non_retryable_error_types=["CompensationDeclined"],
)
# Robust runs give up sooner: the outcome is then "unknown" and re-checked under the same key
# (Case.compensation_unknown), so a long provider outage neither wedges the case nor pays twice.
ISSUE_RETRY_ROBUST = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
    non_retryable_error_types=["CompensationDeclined"],
)
DECLINED = "CompensationDeclined"
POISON = "PoisonBatch"
"""A projection batch the event store can never take (the activity says so): skipped with an alert."""
MAX_UPDATES_PER_RUN = 500
"""Continue as new after this many updates, well below the server's 2,000 per run."""
LEAN = "lean-actions"
"""Fewer billable actions: events ride on the plan activity, one timer kept for the earliest wakeup,
the start's search attributes not upserted again. It implies every earlier patch, so a new run records
one patch marker and one TemporalChangeVersion upsert instead of six. Older histories replay without."""
COMPACT = "compact-actions"
"""Rules named by the start (`CaseStart.rules`) instead of decided by a patch: the run records no patch
marker and upserts no TemporalChangeVersion (the SDK upserts one for every patch a run calls: a billable
action per run). Implies LEAN; the compensation is issued as a local activity, in the workflow task of
the step that grants it, beside its notice's plan (one marker batch instead of an activity and a batch)."""
NAMED_RULES = (LEAN, COMPACT)
"""What a start may name, oldest first. A continued run names its run's rules (LEAN for one decided by
the patch), so it calls no patch either."""
CURRENT_RULES = COMPACT
"""What the client names for a case it opens now."""
ISSUE_LOCAL_BOUND = timedelta(minutes=5)
"""All attempts of a local issue (ISSUE_RETRY_ROBUST: 5 of at most 30 s, 1-10 s apart)."""
OPENED_AT_TOLERANCE = timedelta(seconds=5)
CONTACTS_ACROSS_RUNS = "contacts-across-runs"
"""Patch: the rules are decided before the first task's update handlers; contacts' answers by update id."""
MOVING = "moving"
"""Update rejection while the run continues as new: the caller retries, reaching the new run."""


class UnknownRules(Exception):
    """A start naming rules this worker does not know (a newer client's): not a workflow failure; the
    workflow task fails and is retried until a worker that knows them takes it."""


class CaseStart(BaseModel):
    """The workflow's input: the opening ticket and the policy snapshot, or (after
    continue-as-new) the whole state carried over."""

    ticket: TicketEvent
    policy: Policy
    state: CaseState | None = None
    rule: RuleMatch | None = None
    """The policy rule that chose `policy` (recorded in the `opened` event)."""
    opened_at: datetime | None = None
    """When the client opened the case (lean-actions): the opening deadline it put in the start's
    search attributes is computed from it, so the first run need not upsert it."""
    rules: str | None = None
    """The rules the run follows, one of NAMED_RULES; None (older starts): decided by patches. A worker
    that does not know the name fails the task (UnknownRules), so a newer worker takes it; a newer
    client's new fields come with new rules. (A field the input cannot decode would fail the workflow
    itself, so fields stay optional and unknown ones are ignored.) Workers that predate `rules` ignore
    it: deploy workers before the clients that open cases."""

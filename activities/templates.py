"""Every message the engine sends, in one place. Params come from the workflow's outbox."""

from __future__ import annotations

from string import Template

CUSTOMER = {
    "acknowledgement": (
        "We're sorry, $customer",
        "We're sorry about \"$subject\". We have your case ($case) and we're on it. $message "
        "We will have it fixed by $fix_due, and we'll keep you posted until it is.",
    ),
    "status_update": (
        "An update on your case",
        "Hello $customer, a quick update on \"$subject\" ($case): we are working on the $step step "
        "and haven't forgotten you. We'll write again as soon as there is news.",
    ),
    "fix_notice": (
        "We've fixed it",
        "Hello $customer, we've fixed \"$subject\": $description",
    ),
    "compensation_notice": (
        "Making it right",
        "Hello $customer, to make up for \"$subject\" we've issued a $kind $amount.$code_text "
        "We'll check in with you by $follow_up_due.",
    ),
    "follow_up_request": (
        "Did we make it right?",
        "Hello $customer, did we resolve \"$subject\" to your satisfaction? "
        "Reply and rate us from 1 to 5.",
    ),
}

INTERNAL = {
    "new_case": ("New case", "New $severity case $case: \"$subject\" for $customer. Acknowledge by $due."),
    "repeat_contact": ("Repeat contact", "Case $case: contact #$count from the customer: \"$subject\"."),
    "warning": ("Deadline warning", "Case $case: $percent% of the $step budget is gone; due $due."),
    "escalation": ("Escalation", "Case $case escalated to level $level at step $step: $reason. Owner: $owner."),
    "assigned": ("Case assigned to you", "Case $case (\"$subject\", at $step) was assigned to you by $agent. $note"),
    "approval_needed": ("Approval needed", "Case $case: $agent proposes a $kind of $amount, above their authority."),
    "approval_rejected": ("Compensation rejected", "Case $case: $approver rejected the $amount proposal. $note"),
    "pause_ended": ("Pause ended", "Case $case: the pause budget ($budget) is used up, so the pause has ended "
                    "and the $step deadline runs again; due $due."),
    "reopened": ("Case reopened", "Case $case reopened at fix: the customer is not satisfied. $note"),
}


OPTIONAL = {"owner": "nobody (unassigned)", "code_text": ""}
"""Params added later: notifications queued before them (carried in a case's state) render without."""


def render(audience: str, template: str, params: dict[str, str]) -> tuple[str, str]:
    """(title, text) of a message; a missing param shows as `$name` rather than failing a send."""
    table = CUSTOMER if audience == "customer" else INTERNAL
    title, body = table[template]
    params = {**OPTIONAL, **params}
    return Template(title).safe_substitute(params), " ".join(Template(body).safe_substitute(params).split())

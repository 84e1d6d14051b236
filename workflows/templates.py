"""Every message the engine sends, in one place, per channel; ops may override any of them.

Channels: `email` and `ticket` (a public comment on the source ticket) carry customer messages;
`chat` (Slack, a generic webhook, a staff member's email) and `note` (an internal note on the
source ticket) carry internal ones. Params come from the workflow's outbox; each template declares
the params it may use, so an override naming another one fails `recovery policy check` instead of
leaving a blank in a customer's mail. Pure data and string substitution: safe in workflow code.
"""

from __future__ import annotations

import re
import tomllib
from string import Template
from typing import Literal

from pydantic import BaseModel, ConfigDict

Channel = Literal["email", "ticket", "chat", "note"]
CUSTOMER_CHANNELS: tuple[Channel, ...] = ("email", "ticket")
INTERNAL_CHANNELS: tuple[Channel, ...] = ("chat", "note")

BASE_PARAMS = frozenset({"case", "customer", "subject"})

CUSTOMER = {
    "acknowledgement": (
        "We're sorry, $customer",
        "We're sorry about \"$subject\". We have your case ($case) and we're on it. $message "
        "We will have it fixed by $fix_due, and we'll keep you posted until it is.",
    ),
    "status_update": (
        "An update on your case",
        'Hello $customer, a quick update on "$subject" ($case): we are working on the $step step '
        "and haven't forgotten you. We'll write again as soon as there is news.",
    ),
    "fix_notice": (
        "We've fixed it",
        'Hello $customer, we\'ve fixed "$subject": $description',
    ),
    "compensation_notice": (
        "Making it right",
        'Hello $customer, to make up for "$subject" we\'ve issued a $kind $amount.$code_text '
        "We'll check in with you by $follow_up_due.",
    ),
    "offer": (
        "Choose how we make it right",
        'Hello $customer, to make up for "$subject" please choose one of these:\n\n$options\n\n'
        "Reply with the number of the one you want, or choose it on your case page. "
        "Please choose by $choose_by; if we don't hear from you by then, $fallback.",
    ),
    "offer_closed": (
        "About your choice",
        'Hello $customer, about "$subject": $reason Nothing was changed.',
    ),
    "follow_up_request": (
        "Did we make it right?",
        'Hello $customer, did we resolve "$subject" to your satisfaction? Reply and rate us from 1 to 5.',
    ),
}

INTERNAL = {
    "new_case": ("New case", 'New $severity case $case: "$subject" for $customer. Acknowledge by $due.'),
    "repeat_contact": ("Repeat contact", 'Case $case: contact #$count from the customer: "$subject".'),
    "warning": ("Deadline warning", "Case $case: $percent% of the $step budget is gone; due $due."),
    "escalation": ("Escalation", "Case $case escalated to level $level at step $step: $reason. Owner: $owner."),
    "assigned": ("Case assigned to you", 'Case $case ("$subject", at $step) was assigned to you by $agent. $note'),
    "approval_needed": ("Approval needed", "Case $case: $agent proposes a $kind of $amount, above their authority."),
    "approval_rejected": ("Compensation rejected", "Case $case: $approver rejected the $amount proposal. $note"),
    "pause_ended": (
        "Pause ended",
        "Case $case: the pause budget ($budget) is used up, so the pause has ended "
        "and the $step deadline runs again; due $due.",
    ),
    "reopened": ("Case reopened", "Case $case reopened at fix: the customer is not satisfied. $note"),
    "customer_not_reached": (
        "Customer not reached",
        "Case $case: the $message for $customer could not be delivered ($reason). Reach them another way.",
    ),
    "offer_expired": (
        "Offer not chosen",
        "Case $case: $customer did not choose a remedy by $choose_by. Compensate the case yourself or offer again.",
    ),
    "cause_alert": (
        "Repeat mistake: $cause",
        "$count cases closed with root cause $cause in $window: $trend.\n\nCases: $cases\n\nReview: $link",
    ),
    "prevention_reminder": (
        "Prevention action due soon",
        'Prevention action $case for cause "$cause" is due $due: $description. Owner: $owner.',
    ),
    "prevention_overdue": (
        "Prevention action overdue",
        'Prevention action $case for cause "$cause" missed its due date ($due): $description. '
        "Owner: $owner. Escalated to level $level.",
    ),
}

PARAMS: dict[str, frozenset[str]] = {
    "acknowledgement": BASE_PARAMS | {"message", "fix_due"},
    "status_update": BASE_PARAMS | {"step"},
    "fix_notice": BASE_PARAMS | {"description"},
    "compensation_notice": BASE_PARAMS | {"kind", "amount", "follow_up_due", "code_text"},
    "follow_up_request": BASE_PARAMS,
    "offer": BASE_PARAMS | {"options", "choose_by", "fallback"},
    "offer_closed": BASE_PARAMS | {"reason"},
    "offer_expired": BASE_PARAMS | {"choose_by"},
    "new_case": BASE_PARAMS | {"severity", "due"},
    "repeat_contact": BASE_PARAMS | {"count"},
    "warning": BASE_PARAMS | {"step", "percent", "due"},
    "escalation": BASE_PARAMS | {"level", "step", "reason", "owner"},
    "assigned": BASE_PARAMS | {"step", "agent", "note"},
    "approval_needed": BASE_PARAMS | {"agent", "kind", "amount"},
    "approval_rejected": BASE_PARAMS | {"approver", "amount", "note"},
    "pause_ended": BASE_PARAMS | {"budget", "step", "due"},
    "reopened": BASE_PARAMS | {"note"},
    "customer_not_reached": BASE_PARAMS | {"message", "reason"},
    "cause_alert": frozenset({"cause", "count", "window", "trend", "cases", "link"}),
    "prevention_reminder": BASE_PARAMS | {"cause", "description", "owner", "due"},
    "prevention_overdue": BASE_PARAMS | {"cause", "description", "owner", "due", "level"},
}
"""The params each template may use (what the step machine passes for it)."""


# Params added later than some queued notifications (a case's outbox may predate them).
_DEFAULTS = {"owner": "nobody (unassigned)", "code_text": ""}


class MessageTemplate(BaseModel):
    """An ops override: `subject` (email subject / chat title; unused on ticket comments) and `body`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: str | None = None
    body: str | None = None


Overrides = dict[str, dict[str, MessageTemplate]]
"""channel → template name → override."""


def channels_of(template: str) -> tuple[Channel, ...]:
    return CUSTOMER_CHANNELS if template in CUSTOMER else INTERNAL_CHANNELS


def _problems(text: str, template: str, where: str) -> list[str]:
    tpl = Template(text)
    if not tpl.is_valid():
        return [f"{where}: invalid placeholder (write $name or ${{name}}; $$ for a dollar sign)"]
    unknown = sorted(set(tpl.get_identifiers()) - PARAMS[template])
    if unknown:
        names = ", ".join(f"${n}" for n in unknown)
        return [
            f"{where}: unknown parameter {names} (this template has: "
            f"{', '.join('$' + p for p in sorted(PARAMS[template]))})"
        ]
    return []


def check_override(channel: str, name: str, template: MessageTemplate) -> list[str]:
    """Problems of one override already in model form (e.g. written into a policy directly)."""
    where = f"{channel}.{name}"
    if name not in PARAMS:
        return [f"{where}: unknown template"]
    if channel not in channels_of(name):
        return [f"{where}: use channel {' or '.join(channels_of(name))}"]
    return [
        p
        for key in ("subject", "body")
        if (text := getattr(template, key))
        for p in _problems(text, name, f"{where}.{key}")
    ]


def parse_overrides(text: str, source: str) -> Overrides:
    """An ops templates file (TOML, `[<channel>.<template>] subject = … body = …`), checked against
    the params each template gets. Raises ValueError with one line per problem, naming the file."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: not valid TOML: {exc}") from None
    problems: list[str] = []
    result: Overrides = {}
    for channel, templates in data.items():
        if channel not in CUSTOMER_CHANNELS + INTERNAL_CHANNELS:
            problems.append(f"{source}: {channel}: unknown channel (one of: email, ticket, chat, note)")
            continue
        if not isinstance(templates, dict):
            problems.append(f"{source}: {channel}: must be a table of templates")
            continue
        for name, fields in templates.items():
            where = f"{source}: {channel}.{name}"
            if name not in PARAMS:
                problems.append(f"{where}: unknown template (one of: {', '.join(PARAMS)})")
                continue
            if channel not in channels_of(name):
                problems.append(
                    f"{where}: {name} is {'a customer' if name in CUSTOMER else 'an internal'} "
                    f"message: use channel {' or '.join(channels_of(name))}"
                )
                continue
            if not isinstance(fields, dict) or set(fields) - {"subject", "body"} or not fields:
                problems.append(f"{where}: give `subject` and/or `body` (strings)")
                continue
            for key, value in fields.items():
                if not isinstance(value, str) or not value.strip():
                    problems.append(f"{where}.{key}: must be a non-empty string")
                else:
                    problems.extend(_problems(value, name, f"{where}.{key}"))
            result.setdefault(channel, {})[name] = MessageTemplate(**fields)
    if problems:
        raise ValueError("\n".join(problems))
    return result


def render(
    audience: str,
    template: str,
    params: dict[str, str],
    channel: Channel | None = None,
    overrides: Overrides | None = None,
) -> tuple[str, str]:
    """(title, text) of a message on `channel`, ops overrides first. Overrides are checked when the
    policy loads, so a `$name` left in the text only shows for a param the engine never passes."""
    table = CUSTOMER if audience == "customer" else INTERNAL
    title, body = table[template]
    params = {**_DEFAULTS, **params}
    override = (overrides or {}).get(channel or "", {}).get(template)
    if override is not None:
        title, body = override.subject or title, override.body or body
    filled = Template(body).safe_substitute(params)
    # Whitespace folds within a paragraph (templates wrap freely); blank lines separate paragraphs.
    text = "\n\n".join(" ".join(p.split()) for p in re.split(r"\n\s*\n", filled) if p.strip())
    return Template(title).safe_substitute(params), text

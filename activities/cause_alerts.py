"""`plan_cause_alert`: who hears a cause's repeat-mistake alert, over which channels.

The cause's owner from the roster (`[causes.<cause>] owner = …`, a person or a role's on-call
person), else the on-call team lead; planned by the Notifier like any internal message (the
person's Slack, webhook and email), so `deliver` and its delivery log send each one once. With a
console URL the alert links to the causes report and to the form that opens a prevention action
for the cause (`/prevention/new?cause=<cause>`). The notification key is
`cause-watch-<cause>:<window start>`: one alert per cause and window, ever.
"""

from __future__ import annotations

from urllib.parse import quote

import structlog
from temporalio import activity

from activities.notifications import Notifier
from workflows.effects import DeliveryPlan, Notification, NotifyContext
from workflows.learning import PLAN_CAUSE_ALERT, CauseAlert, span_text, trend_text, watch_id

log = structlog.get_logger("cause_watch")

FALLBACK_ROLE = "team-lead"
"""Whose on-call person hears a cause that has no owner in the roster."""


def links_of(console: str | None, cause: str) -> str:
    """What an alert's `Review: $link` names: the causes report and the form for the cause's action."""
    if not console:
        return "the causes report in the console (Root causes › Open an action)"
    return (
        f"{console}/reports/causes - open a prevention action: {console}/prevention/new?cause={quote(cause, safe='')}"
    )


class CauseAlerts:
    def __init__(self, notifier: Notifier):
        self.notifier = notifier

    def note_of(self, alert: CauseAlert, recipient: str) -> Notification:
        console = self.notifier.console_url
        cases = ", ".join(f"{case} ({url})" if (url := self.notifier.case_url(case)) else case for case in alert.cases)
        return Notification(
            key=alert.key,
            case_id=watch_id(alert.cause),
            workflow_id=watch_id(alert.cause),
            audience="internal",
            recipient=recipient,
            template="cause_alert",
            params={
                "cause": alert.cause,
                "count": str(len(alert.cases)),
                "window": span_text(alert.window_start, alert.within),
                "trend": trend_text(len(alert.cases), alert.previous),
                "cases": cases,
                "link": links_of(console, alert.cause),
            },
            context=NotifyContext(at=alert.at, ticket_source="", ticket_id="", severity="normal"),
        )

    @activity.defn(name=PLAN_CAUSE_ALERT)
    async def plan_cause_alert(self, alert: CauseAlert) -> DeliveryPlan:
        roster = self.notifier.roster
        owner = roster.cause_owner(alert.cause, alert.at, FALLBACK_ROLE) if roster else None
        if owner is None:
            log.warning("cause alert: the roster names no owner and no on-call team lead", cause=alert.cause)
            return DeliveryPlan(skipped=[f"{alert.cause}: no owner in the roster and no {FALLBACK_ROLE}"])
        return await self.notifier.plan(self.note_of(alert, owner))

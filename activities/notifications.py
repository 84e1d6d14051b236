"""Notifications: who hears a message over which channels (`plan_deliveries`), and each send
(`deliver`). A structured log line always; the rest as configured:

* customer messages by email (`RECOVERY_SMTP_URL`) and/or as a public comment on the source
  Zendesk/Jira ticket (the policy's `[notifications] channel`);
* internal messages to the people of the role in the roster (`RECOVERY_ROSTER`): by email, Slack,
  or a generic webhook, the on-call person first (everyone at the top of the ladder), plus an
  internal note on the source ticket for warnings and escalations (with the priority raised);
* without a roster or a customer channel, the one Slack-style webhook of old
  (`RECOVERY_NOTIFY_WEBHOOK`), with the notification key as `Idempotency-Key`.

Every accepted delivery is recorded in the `deliveries` table; a retry finds it and sends nothing,
so a worker killed after a send and before reporting it does not double the message.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.case_links import NON_ESSENTIAL, CaseLinker, opted_out, with_link
from activities.channels import Rejected, RetryLater, chat, email, tls
from activities.channels.email import SmtpConfig
from activities.channels.tickets import Escalation, JiraClient, ZendeskClient
from activities.roster import QUIET_TEMPLATES, Roster, load_roster
from activities.store import DATABASE_DOWN
from activities.store.deliveries import already_sent, record_sent
from workflows.effects import (
    DELIVER,
    PLAN_DELIVERIES,
    SEND_NOTIFICATION,
    Delivery,
    DeliveryPlan,
    DeliveryReceipt,
    DeliveryTarget,
    Notification,
)
from workflows.templates import Channel, render

log = structlog.get_logger("notifications")

NOTE_TEMPLATES = frozenset({"warning", "escalation"})
"""Internal messages that also become an internal note on the source ticket."""
CASELESS_TEMPLATES = frozenset({"cause_alert"})
"""Internal messages about many cases: their text links the cases, Slack gets no one case's button."""


class Notifier:
    """Sends the workflow's notifications (see the module docstring for the channels)."""

    def __init__(
        self,
        webhook_url: str | None = None,
        timeout: float = 10.0,
        *,
        smtp: SmtpConfig | None = None,
        zendesk: ZendeskClient | None = None,
        jira: JiraClient | None = None,
        roster: Roster | None = None,
        pool: asyncpg.Pool | None = None,
        console_url: str | None = None,
        temporal_ui_url: str | None = None,
        namespace: str = "default",
        log_bodies: bool = True,
        store: Any = None,
        links: CaseLinker | None = None,
    ):
        self.webhook_url = webhook_url or None
        self._timeout = timeout
        self.log_bodies = log_bodies
        """Log each message's title and text at DEBUG. `build_worker` turns it off when payloads are
        encrypted: logs are not, and messages carry the customer's name and words."""
        self.store = store
        """An asyncpg pool: customer messages are logged there (the console shows them as sent)."""
        self.smtp = smtp
        self.zendesk = zendesk
        self.jira = jira
        self.roster = roster
        self.pool = pool
        self.console_url = (console_url or "").rstrip("/") or None
        self.temporal_ui_url = (temporal_ui_url or "").rstrip("/") or None
        self.namespace = namespace
        self.links = links
        """Adds the customer's case link to customer emails and public ticket comments (None: no link)."""

    @classmethod
    def from_env(cls, pool: asyncpg.Pool | None = None) -> Notifier:
        smtp_url = os.environ.get("RECOVERY_SMTP_URL")
        return cls(
            os.environ.get("RECOVERY_NOTIFY_WEBHOOK"),
            smtp=SmtpConfig.from_url(smtp_url, os.environ.get("RECOVERY_MAIL_FROM")) if smtp_url else None,
            zendesk=ZendeskClient.from_env(),
            jira=JiraClient.from_env(),
            roster=load_roster(),
            pool=pool,
            console_url=os.environ.get("RECOVERY_CONSOLE_URL"),
            temporal_ui_url=os.environ.get("RECOVERY_TEMPORAL_UI_URL", "http://localhost:8233"),
            namespace=os.environ.get("TEMPORAL_NAMESPACE", "default"),
            links=CaseLinker.from_env(),
        )

    @property
    def activities(self) -> list[Callable[..., Awaitable[Any]]]:
        return [self.send, self.plan, self.deliver]

    # ---- the one webhook of old (histories from before the channels) -----------------------

    @activity.defn(name=SEND_NOTIFICATION)
    async def send(self, note: Notification) -> str:
        title, text = render(note.audience, note.template, note.params)
        self._log(note, title, text)
        if self.webhook_url:
            await self._post_legacy(note, title, text)
        await self._record_customer_message(note, title, text)
        return text

    def _log(self, note: Notification, title: str, text: str) -> None:
        bound = log.bind(
            case_id=note.case_id, workflow_id=note.workflow_id, key=note.key, attempt=activity.info().attempt
        )
        bound.info("notification", audience=note.audience, recipient=note.recipient, template=note.template)
        if self.log_bodies:
            bound.debug("notification text", title=title, text=text)

    async def _record_customer_message(
        self, note: Notification, title: str, text: str, *, tracked: bool = False
    ) -> None:
        """The console's log of what the customer was told (one row per notification key). `tracked`:
        the delivery's outcome will be recorded in the timeline under the same key (not for a
        message logged only, or sent by the webhook of old)."""
        if self.store is not None and note.audience == "customer":
            await self.store.execute(
                "INSERT INTO customer_messages (key, workflow_id, case_id, template, title, text, tracked) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key) DO NOTHING",
                note.key,
                note.workflow_id,
                note.case_id,
                note.template,
                title.replace("\x00", ""),  # PostgreSQL text holds no NUL (an older case may carry one)
                text.replace("\x00", ""),
                tracked,
            )

    async def _post_legacy(self, note: Notification, title: str, text: str) -> str:
        body = {
            "text": f"*{title}*\n{text}",
            "idempotency_key": note.key,
            "case_id": note.case_id,
            "audience": note.audience,
            "recipient": note.recipient,
            "template": note.template,
        }
        async with httpx.AsyncClient(timeout=self._timeout, verify=tls.verified()) as http:
            response = await http.post(self.webhook_url or "", json=body, headers={"Idempotency-Key": note.key})
        if response.status_code >= 300:
            # Raising lets Temporal retry with backoff; the key makes the resend harmless.
            raise RuntimeError(f"notification webhook answered {response.status_code}")
        return f"webhook answered {response.status_code}"

    # ---- planning ----------------------------------------------------------------------------

    @activity.defn(name=PLAN_DELIVERIES)
    async def plan(self, note: Notification) -> DeliveryPlan:
        title, text = render(note.audience, note.template, note.params)
        self._log(note, title, text)
        if (declined := await self._declined(note)) is not None:
            return DeliveryPlan(skipped=[declined], recorded=True)  # not sent: not in the customer's log
        plan = self._plan_customer(note) if note.audience == "customer" else self._plan_internal(note)
        if not plan.targets and not plan.also and self.webhook_url:
            legacy = Delivery(key=note.key, channel="webhook", address=self.webhook_url, note=note)
            plan.targets.append(DeliveryTarget(label="webhook", deliveries=[legacy]))
        # A recorded plan's outcome reaches the timeline (`notified` / `notification_failed` under this
        # key): until it does, the console shows the message as being sent.
        await self._record_customer_message(note, title, text, tracked=plan.recorded)
        return plan

    async def _declined(self, note: Notification) -> str | None:
        """Why a non-essential customer message (a status update) is not sent: the customer turned
        them off on their case page (`customer_optouts`). With the store unreachable it is not sent
        either: a consent not checked is not assumed. None: send it."""
        pool = self.pool or self.store
        if note.audience != "customer" or note.template not in NON_ESSENTIAL or pool is None:
            return None
        try:
            if not await opted_out(pool, note.workflow_id):
                return None
        except DATABASE_DOWN as err:
            log.warning("status update not sent: opt-outs unreadable", key=note.key, error=str(err))
            return "customer: not sent, the customer's opt-out could not be checked (database unreachable)"
        log.info("status update not sent: the customer opted out", key=note.key)
        return "customer: opted out of status updates (case page)"

    def _ticket_client(self, source: str) -> ZendeskClient | JiraClient | None:
        return {"zendesk": self.zendesk, "jira": self.jira}.get(source)

    def _plan_customer(self, note: Notification) -> DeliveryPlan:
        ctx = note.context
        if ctx is None:  # queued by code from before the channels: the webhook of old
            return DeliveryPlan()
        on_ticket = self._ticket_client(ctx.ticket_source) is not None
        deliveries: list[Delivery] = []
        skipped: list[str] = []
        wants_email = ctx.channel in ("email", "both") or not on_ticket
        if wants_email and self.smtp is not None:
            if ctx.customer_email:
                deliveries.append(Delivery(key=note.key, channel="email", address=ctx.customer_email, note=note))
            else:
                skipped.append("customer email: the ticket gives no email address")
        if ctx.channel in ("ticket", "both") and on_ticket:
            deliveries.append(
                Delivery(key=f"{note.key}:ticket", channel=ctx.ticket_source, address=ctx.ticket_id, note=note)
            )
        if not deliveries and not skipped and not ctx.customer_email and ctx.channel == "ticket":
            # The customer's data was erased (no address) and their ticket has no channel here.
            skipped.append("customer: undeliverable (no email address, no ticket channel)")
        targets = [DeliveryTarget(label="customer", deliveries=deliveries)] if deliveries else []
        return DeliveryPlan(targets=targets, skipped=skipped, recorded=bool(deliveries or skipped))

    def _plan_internal(self, note: Notification) -> DeliveryPlan:
        ctx = note.context
        plan = DeliveryPlan()
        if ctx is None:
            return plan
        people = self.roster.order(note.recipient, ctx.at) if self.roster else []
        for person_id in people:
            assert self.roster is not None
            person = self.roster.people[person_id]
            label = f"{person.name or person_id} ({person_id})" if person.name else person_id
            if note.template in QUIET_TEMPLATES and ctx.severity != "critical" and person.quiet_at(ctx.at):
                plan.skipped.append(f"{label}: quiet hours")
                continue
            deliveries = []
            base = f"{note.key}:{person_id}"
            if person.slack:
                deliveries.append(
                    Delivery(key=f"{base}:slack", channel="slack", address=person.slack, person=label, note=note)
                )
            if person.webhook:
                deliveries.append(
                    Delivery(key=f"{base}:webhook", channel="webhook", address=person.webhook, person=label, note=note)
                )
            if person.email and self.smtp is not None:
                deliveries.append(
                    Delivery(key=f"{base}:email", channel="email", address=person.email, person=label, note=note)
                )
            if deliveries:
                plan.targets.append(DeliveryTarget(label=label, deliveries=deliveries, patient=False))
        plan.first_reachable = not (note.template == "escalation" and ctx.top_level)
        if note.template in NOTE_TEMPLATES and self._ticket_client(ctx.ticket_source) is not None:
            plan.also.append(
                DeliveryTarget(
                    label=f"{ctx.ticket_source} ticket {ctx.ticket_id}",
                    deliveries=[
                        Delivery(
                            key=f"{note.key}:note",
                            channel=ctx.ticket_source,
                            address=ctx.ticket_id,
                            internal=True,
                            note=note,
                        )
                    ],
                )
            )
        plan.recorded = bool(plan.targets or plan.also or plan.skipped)
        return plan

    # ---- sending -------------------------------------------------------------------------------

    @activity.defn(name=DELIVER)
    async def deliver(self, delivery: Delivery) -> DeliveryReceipt:
        record_key = f"{delivery.channel}:{delivery.key}"
        if self.pool is not None and (detail := await self._sent_before(record_key)) is not None:
            return DeliveryReceipt(detail=detail, duplicate=True)
        try:
            detail = await self._dispatch(delivery)
        except Rejected as err:
            raise ApplicationError(str(err), type="ChannelRejected", non_retryable=True) from None
        except RetryLater as err:
            delay = timedelta(seconds=err.after) if err.after is not None else None
            raise ApplicationError(str(err), type="RateLimited", next_retry_delay=delay) from None
        if self.pool is not None:
            try:
                await record_sent(
                    self.pool, record_key, delivery.note.workflow_id, delivery.channel, delivery.address, detail
                )
            except DATABASE_DOWN as err:
                # Sent: failing now would send it again on the retry. The activity's completion in
                # history is the record until the log can be written.
                log.error("delivered, not logged: the database is unreachable", key=delivery.key, error=str(err))
        log.info("delivered", key=delivery.key, channel=delivery.channel, person=delivery.person, detail=detail)
        return DeliveryReceipt(detail=detail)

    async def _sent_before(self, record_key: str) -> str | None:
        """The delivery log's answer. With the database unreachable, a first attempt goes ahead (no
        earlier attempt of it can have sent), and a retry waits for the log: an escalation page must
        not be dropped, nor a message doubled, for an outage of the log."""
        assert self.pool is not None
        try:
            return await already_sent(self.pool, record_key)
        except DATABASE_DOWN as err:
            if activity.in_activity() and activity.info().attempt > 1:
                raise ApplicationError(f"the delivery log is unreachable: {err}", type="LogUnreachable") from None
            log.warning("delivery log unreachable; sending (first attempt)", key=record_key, error=str(err))
            return None

    def _text(self, delivery: Delivery, channel: Channel, slack: bool = False) -> tuple[str, str]:
        """(title, text); for Slack the text's params are escaped for mrkdwn, the title stays plain."""
        note = delivery.note
        overrides = {c: {note.template: t} for c, t in (note.context.overrides if note.context else {}).items()}
        title, text = render(note.audience, note.template, note.params, channel, overrides)
        if slack:
            _, text = render(note.audience, note.template, chat.escape_params(note.params), channel, overrides)
        return title, text

    async def _dispatch(self, delivery: Delivery) -> str:
        note = delivery.note
        ctx = note.context
        if delivery.channel == "email":
            if self.smtp is None:
                raise Rejected("email: RECOVERY_SMTP_URL is not set on this worker")
            customer = note.audience == "customer"
            subject, text = self._text(delivery, "email" if customer else "chat")
            reply_to = ctx.reply_to if ctx and customer else None
            sender = (ctx.sender if ctx and customer and ctx.sender else None) or self.smtp.sender
            try:
                to = email.mailbox(delivery.address)  # a stored record may predate intake's parsing
            except email.BadAddress as err:
                raise Rejected(f"email: {err}") from None
            msg = email.build_message(
                key=delivery.key,
                thread=ctx.thread if ctx and customer else [],
                to=to,
                to_name=note.params.get("customer") if customer else None,
                sender=sender,
                reply_to=reply_to,
                subject=subject,
                text=text,
                case_id=note.case_id,
                domain=self.smtp.domain,
                link=await self._link(note) if customer else None,
            )
            answer = await email.send(self.smtp, msg, to)
            return f"email to {to} accepted: {answer}"
        if delivery.channel in ("zendesk", "jira"):
            client = self._ticket_client(delivery.channel)
            if client is None:
                raise Rejected(f"{delivery.channel}: not configured on this worker")
            public = not delivery.internal
            _, text = self._text(delivery, "ticket" if public else "note")
            if public and note.audience == "customer":
                text = with_link(text, await self._link(note))
            escalation = None
            if note.template == "escalation" and ctx is not None and ctx.level:
                escalation = Escalation(level=ctx.level, tag=f"recovery-escalated-{ctx.level}")
            return await client.comment(delivery.address, delivery.key, text, public=public, escalation=escalation)
        if delivery.channel == "slack":
            title, text = self._text(delivery, "chat", slack=True)
            case_url = None if note.template in CASELESS_TEMPLATES else self.case_url(note.case_id)
            payload = chat.slack_payload(title, text, note.case_id, case_url, self.history_url(note.workflow_id))
            return await chat.post_json("Slack", delivery.address, payload)
        if delivery.key == note.key:  # the webhook of old: its body, its key
            title, text = render(note.audience, note.template, note.params)
            return await self._post_legacy(note, title, text)
        title, text = self._text(delivery, "chat")
        body = {
            "title": title,
            "text": text,
            "idempotency_key": delivery.key,
            "case_id": note.case_id,
            "case_url": self.case_url(note.case_id),
            "template": note.template,
            "person": delivery.person,
        }
        return await chat.post_json("webhook", delivery.address, body, {"Idempotency-Key": delivery.key})

    async def _link(self, note: Notification) -> str | None:
        """`See your case: <url>` for a customer message, when links are configured."""
        if self.links is None:
            return None
        return await self.links.line(self.pool or self.store, note)

    def case_url(self, case_id: str) -> str | None:
        return f"{self.console_url}/cases/{quote(case_id, safe='')}" if self.console_url else None

    def history_url(self, workflow_id: str) -> str | None:
        if not self.temporal_ui_url:
            return None
        return f"{self.temporal_ui_url}/namespaces/{self.namespace}/workflows/{quote(workflow_id, safe='')}"

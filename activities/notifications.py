"""Notifications: a structured log line always, plus a Slack-compatible webhook when configured."""

from __future__ import annotations

from typing import Any

import httpx
import structlog
from temporalio import activity

from activities.templates import render
from workflows.models import SEND_NOTIFICATION, Notification

log = structlog.get_logger("notifications")


class Notifier:
    """Sends the workflow's notifications. `webhook_url` receives a Slack-style JSON POST carrying
    an `Idempotency-Key` header, so a receiver can drop the rare resend after a worker crash."""

    def __init__(self, webhook_url: str | None = None, timeout: float = 10.0, log_bodies: bool = True,
                 store: Any = None):
        self.webhook_url = webhook_url or None
        self._timeout = timeout
        self.log_bodies = log_bodies
        """Log each message's title and text at DEBUG. `build_worker` turns it off when payloads are
        encrypted: logs are not, and messages carry the customer's name and words."""
        self.store = store
        """An asyncpg pool: customer messages are logged there (the console shows them as sent)."""

    @activity.defn(name=SEND_NOTIFICATION)
    async def send(self, note: Notification) -> str:
        title, text = render(note.audience, note.template, note.params)
        bound = log.bind(case_id=note.case_id, workflow_id=note.workflow_id, key=note.key,
                         attempt=activity.info().attempt)
        bound.info("notification", audience=note.audience, recipient=note.recipient, template=note.template)
        if self.log_bodies:
            bound.debug("notification text", title=title, text=text)
        if self.webhook_url:
            body = {
                "text": f"*{title}*\n{text}",
                "idempotency_key": note.key,
                "case_id": note.case_id,
                "audience": note.audience,
                "recipient": note.recipient,
                "template": note.template,
            }
            async with httpx.AsyncClient(timeout=self._timeout) as http:
                response = await http.post(self.webhook_url, json=body, headers={"Idempotency-Key": note.key})
            if response.status_code >= 300:
                # Raising lets Temporal retry with backoff; the key makes the resend harmless.
                raise RuntimeError(f"notification webhook answered {response.status_code}")
        if self.store is not None and note.audience == "customer":
            await self.store.execute(
                "INSERT INTO customer_messages (key, workflow_id, case_id, template, title, text) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING",
                note.key, note.workflow_id, note.case_id, note.template, title, text)
        return text

"""A loopback fake of the Zendesk Support API (v2 shapes), for comments back on tickets.

    zd = FakeZendesk(email="bot@shop.example", token="zd-token")
    zd.add_ticket("123", requester_id=9001)
    ... RECOVERY_ZENDESK_URL=zd.url, _EMAIL=zd.email, _TOKEN=zd.token ...

* `PUT /api/v2/tickets/{id}.json` with `{"ticket": {"comment": {"body", "public"}, "priority",
  "tags", "additional_tags", "status"}}` → 200 `{"ticket": …, "audit": …}`; unknown ticket → 404
  `RecordNotFound`.
* `GET /api/v2/tickets/{id}.json` and `GET /api/v2/tickets/{id}/comments.json` (`comments`,
  `next_page`, `count`; pages of `per_page`, default 100).
* API token auth: basic `"{email}/token:{token}"`, else 401 `{"error": "Couldn't authenticate you"}`.
* `rate_limit_next`: 429 with `Retry-After` (see tests/fakes/http.py).

Comments posted through the API are authored by the API user (`api_user_id`); `agent_reply` and
`customer_reply` add comments as an agent or the requester would, `set_status` changes the status.

Outgoing webhooks (with `webhook_secret`): `open_ticket` queues the ticket-created trigger body ops
configure (docs/ops.md), and every comment — the engine's own included — and status change queues
the event-subscription envelope Zendesk sends (`zen:event-type:ticket.comment_added`,
`ticket.status_changed`), signed like Zendesk signs them. `take_webhooks()` hands them over (raw body
+ headers) for the test to deliver to the API, as Zendesk would POST them.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from datetime import datetime, timezone
from typing import Any

from starter.intake import sign_zendesk
from tests.fakes.http import Answer, FakeHttpService

_TICKET = re.compile(r"^/api/v2/tickets/([^/]+)\.json$")
_COMMENTS = re.compile(r"^/api/v2/tickets/([^/]+)/comments\.json$")


class FakeZendesk(FakeHttpService):
    api_user_id = 7000

    def __init__(
        self,
        email: str = "bot@shop.example",
        token: str = "zd-token",
        per_page: int = 100,
        webhook_secret: str | None = None,
    ) -> None:
        self.email, self.token, self.per_page = email, token, per_page
        self.webhook_secret = webhook_secret
        self.webhooks: list[tuple[bytes, dict[str, str]]] = []
        self.tickets: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        super().__init__()

    def add_ticket(self, ticket_id: str, requester_id: int = 9001, priority: str = "normal") -> dict[str, Any]:
        with self.lock:
            ticket = {
                "id": int(ticket_id),
                "requester_id": requester_id,
                "priority": priority,
                "status": "open",
                "tags": [],
                "comments": [],
            }
            self.tickets[ticket_id] = ticket
            return ticket

    def open_ticket(self, ticket_id: str, *, requester_id: int, name: str, email: str, subject: str) -> None:
        self.add_ticket(ticket_id, requester_id=requester_id)
        self._emit(
            {
                "ticket_id": ticket_id,
                "subject": subject,
                "description": subject,
                "priority": "normal",
                "updated_at": _now(),
                "requester": {"id": str(requester_id), "name": name, "email": email},
            }
        )

    def agent_reply(self, ticket_id: str, body: str, agent_id: int = 501, public: bool = True) -> None:
        self.add_comment(ticket_id, body, agent_id, public)

    def customer_reply(self, ticket_id: str, body: str) -> None:
        self.add_comment(ticket_id, body, self.tickets[ticket_id]["requester_id"])

    def set_status(self, ticket_id: str, status: str) -> None:
        with self.lock:
            ticket = self.tickets[ticket_id]
            previous, ticket["status"] = ticket["status"], status
            self._emit(
                self._envelope(
                    "ticket.status_changed", ticket, {"current": status.upper(), "previous": previous.upper()}
                )
            )

    def take_webhooks(self) -> list[tuple[bytes, dict[str, str]]]:
        with self.lock:
            taken, self.webhooks = self.webhooks, []
            return taken

    def _envelope(self, kind: str, ticket: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": f"zen:event-type:{kind}",
            "id": str(uuid.uuid4()),
            "time": _now(),
            "account_id": 1,
            "zendesk_event_version": "2022-11-06",
            "subject": f"zen:ticket:{ticket['id']}",
            "detail": {
                "id": str(ticket["id"]),
                "requester_id": str(ticket["requester_id"]),
                "status": ticket["status"].upper(),
                "priority": ticket["priority"].upper(),
                "subject": "ticket",
                "tags": ticket["tags"],
            },
            "event": event,
        }

    def _emit(self, payload: dict[str, Any]) -> None:
        if self.webhook_secret is None:
            return
        raw = json.dumps(payload, separators=(",", ":")).encode()
        stamp = _now()
        self.webhooks.append(
            (
                raw,
                {
                    "X-Zendesk-Webhook-Signature": sign_zendesk(self.webhook_secret, stamp, raw),
                    "X-Zendesk-Webhook-Signature-Timestamp": stamp,
                    "Content-Type": "application/json",
                },
            )
        )

    def comments(self, ticket_id: str, *, public: bool | None = None) -> list[dict[str, Any]]:
        with self.lock:
            found = self.tickets[ticket_id]["comments"]
            return [dict(c) for c in found if public is None or c["public"] is public]

    def add_comment(self, ticket_id: str, body: str, author_id: int, public: bool = True) -> dict[str, Any]:
        with self.lock:
            comment = {
                "id": next(self._ids),
                "type": "Comment",
                "body": body,
                "html_body": f"<p>{body}</p>",
                "public": public,
                "author_id": author_id,
                "created_at": "2026-11-20T10:00:00Z",
            }
            ticket = self.tickets[ticket_id]
            ticket["comments"].append(comment)
            staff = author_id != ticket["requester_id"]
            self._emit(
                self._envelope(
                    "ticket.comment_added",
                    ticket,
                    {
                        "comment": {
                            "id": str(comment["id"]),
                            "body": body,
                            "is_public": public,
                            "author": {"id": str(author_id), "is_staff": staff, "name": f"user {author_id}"},
                        }
                    },
                )
            )
            return comment

    def handle(self, method: str, path: str, query: str, body: Any, headers: Any) -> Answer:
        if self.basic_auth(headers) != (f"{self.email}/token", self.token):
            return Answer(401, {"error": "Couldn't authenticate you"})
        match = _TICKET.match(path) or _COMMENTS.match(path)
        if not match or match.group(1) not in self.tickets:
            return Answer(404, {"error": "RecordNotFound", "description": "Not found"})
        ticket = self.tickets[match.group(1)]
        if path.endswith("/comments.json"):
            page = int(dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("page", "1"))
            chunk = ticket["comments"][(page - 1) * self.per_page : page * self.per_page]
            more = page * self.per_page < len(ticket["comments"])
            next_page = f"{self.url}{path}?page={page + 1}" if more else None
            return Answer(
                200,
                {"comments": chunk, "next_page": next_page, "previous_page": None, "count": len(ticket["comments"])},
            )
        if method == "GET":
            return Answer(200, {"ticket": self._public(ticket)})
        if method != "PUT" or not isinstance(body, dict) or not isinstance(body.get("ticket"), dict):
            return Answer(400, {"error": "InvalidEndpoint"})
        update = body["ticket"]
        if "priority" in update:
            if update["priority"] not in ("low", "normal", "high", "urgent"):
                return Answer(422, {"error": "RecordInvalid", "details": {"priority": "invalid"}})
            ticket["priority"] = update["priority"]
        if "status" in update:
            ticket["status"] = update["status"]
        if "tags" in update:
            ticket["tags"] = list(update["tags"])
        for tag in update.get("additional_tags", []):
            if tag not in ticket["tags"]:
                ticket["tags"].append(tag)
        comment = update.get("comment")
        if isinstance(comment, dict):
            self.add_comment(
                match.group(1), str(comment.get("body", "")), self.api_user_id, bool(comment.get("public", True))
            )
        return Answer(200, {"ticket": self._public(ticket), "audit": {"id": next(self._ids), "events": []}})

    @staticmethod
    def _public(ticket: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in ticket.items() if k != "comments"}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
